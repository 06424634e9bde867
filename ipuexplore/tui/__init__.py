"""The Textual explorer. The only package in ipuexplore that imports textual.

Pure helpers (settings, backend, live, export) hold the logic and do not import
textual either, so they can be tested without an app.
"""
