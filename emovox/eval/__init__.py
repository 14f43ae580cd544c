"""Objective evaluation of emotion control, intelligibility and quality."""
