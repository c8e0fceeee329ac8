import gc
import os

from django.core.wsgi import get_wsgi_application
from django.urls import get_resolver

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "int_app.settings")
application = get_wsgi_application()

# Each gunicorn worker imports this once. Load every view now rather than on the first request,
# then move what is loaded (about 150,000 objects: modules, models, URL patterns) out of the
# cyclic garbage collector's sight: it never becomes garbage, yet a full collection walked it
# every few requests, about 3 ms a request on a 30-item agenda (issue #17).
get_resolver().url_patterns  # noqa: B018 - imports every URLconf and view
gc.collect()
gc.freeze()
