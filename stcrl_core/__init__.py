"""stcrl_core: label-efficient building analysis from satellite imagery.

The library behind the ``stcrl`` command and the Streamlit app. It is importable
without Streamlit.
"""

__version__ = "0.1.0"
