"""The web demo (`sphinx-x web`): chat about an image in a browser, on the in-process engine.

chat.py     a session's conversation, its turns on the shared engine, the answer's boxes (no Gradio)
prompts.py  one-click prompts for the release's tasks
app.py      the Gradio page: layout and events
"""
