"""Reusable widgets: range slider, thumbnail gallery, heatmap view, threshold histogram..."""
