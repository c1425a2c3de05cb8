"""Model mel formats: presets as data, compression read off the values and undone, which settings fit."""
