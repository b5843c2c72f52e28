"""Optional services: the seam through which the ACL service, the compatible APIs, a console
proxy (and services built on the SDK) join the platform without the core knowing them.

``base.py`` says what a service may bring (:class:`~strato.services.base.Service`);
``loader.py`` finds installed services through the ``strato.services`` entry-point group
and builds the ones ``STRATO_SERVICES`` switches on. The core imports only these two
modules, never a service (a boundary test checks it). A service lives in its own package
(``strato/services/<name>/`` or another distribution) and declares itself in its
``pyproject.toml``::

    [project.entry-points."strato.services"]
    console = "strato_console.service:ConsoleService"
"""
