"""One module per income category or relief; each writes its lines into a ``LineBook``
and returns the amounts the engine combines into the tax base."""
