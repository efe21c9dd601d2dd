"""Rendering results to the terminal (rich), JSON and HTML; results never print themselves."""
