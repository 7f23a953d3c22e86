"""Image, dataset and camera input."""
