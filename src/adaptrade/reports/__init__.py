"""Presentation: terminal tables, output files and the HTML reports, all pure functions of results."""
