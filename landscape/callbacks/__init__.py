"""Training callbacks that log certified curvature while a model trains, and never disturb it.

    from landscape.callbacks.lightning import CurvatureCallback      # PyTorch Lightning
    from landscape.callbacks.transformers import CurvatureCallback   # Hugging Face Trainer

Each framework's module imports that framework; this package imports neither (nor torch), so
`import landscape` stays light. The shared engine is landscape/callbacks/core.py."""
