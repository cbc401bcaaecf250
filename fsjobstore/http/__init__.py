"""fsjobstore over HTTP: a server (``fsjobstore serve``) and a client store.

The server lives in :mod:`fsjobstore.http.server` and the client in
:mod:`fsjobstore.http.client`; both need the ``server`` extra
(``pip install 'fsjobstore[server]'``). This package itself imports neither,
so the core installs and imports without them.
"""
