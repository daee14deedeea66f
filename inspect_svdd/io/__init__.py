"""Where images come in: listing and decoding files, the one preprocessing path, golden and labelled folders.

numpy and OpenCV only (no torch), so the runtime can import it.
"""
