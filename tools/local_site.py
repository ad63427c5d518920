"""A folder served over HTTP on 127.0.0.1, for the browser: the PDF printer and the browser tests
load the built book this way (fonts and scripts load as on the web, which file:// would refuse)."""

import contextlib
import functools
import http.server
import threading


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@contextlib.contextmanager
def served(directory):
    """Serve ``directory`` on 127.0.0.1 at a free port; yields the base URL, ending in "/"."""
    handler = functools.partial(_QuietHandler, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
