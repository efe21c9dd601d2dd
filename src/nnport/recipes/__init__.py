"""Training and export recipes (MNIST CNN, image classifier) and their dataset readers; torch loads lazily."""
