"""Neural network building blocks: encoders and heads."""
