"""The emotion space: canonical emotions, ADV anchors, spec parsing, the bank of direction vectors, encoders."""
