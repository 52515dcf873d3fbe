"""Images into Llama 4's early-fusion inputs: tiling, pixel values, and the prompt's image tokens."""

from sonar.imaging.layout import ImageTokens, image_token_ids, prompt_with_images
from sonar.imaging.preprocess import ImageProcessingConfig, ProcessedImage, preprocess_image, preprocess_images
from sonar.imaging.tiling import best_canvas, fit_without_distortion, supported_grids

__all__ = [
    "ImageProcessingConfig", "ImageTokens", "ProcessedImage", "best_canvas", "fit_without_distortion",
    "image_token_ids", "preprocess_image", "preprocess_images", "prompt_with_images", "supported_grids",
]
