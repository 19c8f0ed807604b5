"""The steps of the workflow, with their settings resolved once.

Each step takes the workspace and the settings the caller gave (a mapping; a
missing or None value means "the default"), resolves every other setting from
the owner of its defaults (the method registry for pretraining, the config
dataclasses for the others) and runs the library. The ``stcrl`` command, the
app's background jobs and the demo call these same steps:

* :mod:`~stcrl_core.pipeline.ingest`: xBD objects, Inria and xBD patches;
* :mod:`~stcrl_core.pipeline.pretrain`: a run of any registered method;
* :mod:`~stcrl_core.pipeline.embed`: a run's embeddings (and CSP's map grid);
* :mod:`~stcrl_core.pipeline.budget`: a label-budget experiment;
* :mod:`~stcrl_core.pipeline.predict`: damage predictions of every building;
* :mod:`~stcrl_core.pipeline.project`: a stored 2-D projection;
* :mod:`~stcrl_core.pipeline.experts`: expert segmentation networks;
* :mod:`~stcrl_core.pipeline.demo`: the built-in demo, from the steps above.
"""
