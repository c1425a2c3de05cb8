"""What users bring and what goes back: loading audio and mel files, safe file headers (never a pickle), WAV out."""
