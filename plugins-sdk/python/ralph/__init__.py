"""ralph-loop's guest library for plugins written in Python.

`ralph-loop plugin build` writes this package next to a plugin and builds the plugin with
componentize-py into a WebAssembly component of the `ralph:plugin@1.0.0` world. See
`ralph.plugins` for the API.
"""
