"""gunicorn settings of the web process: `gunicorn -c deploy/gunicorn.conf.py crm.wsgi`.

Read from the environment, like crm/settings.py:

- WEB_BIND: address to listen on (default 127.0.0.1:8000; `--bind` overrides it).
- WEB_CONCURRENCY: worker processes (default 2; about 2 per core is usual).
- WEB_TIMEOUT: seconds a request may take before its worker is restarted (default 30).
- FORWARDED_ALLOW_IPS: proxies whose X-Forwarded-Proto is believed (gunicorn's own
  variable; default 127.0.0.1). Behind a TLS proxy on another host, name that host,
  else HTTPS=True redirects every request.
"""

import os

bind = [os.getenv("WEB_BIND", "127.0.0.1:8000")]
workers = int(os.getenv("WEB_CONCURRENCY", "2"))
timeout = int(os.getenv("WEB_TIMEOUT", "30"))
graceful_timeout = 20
# Recycle workers now and then: a leak in any library cannot grow without bound.
max_requests = 2000
max_requests_jitter = 200
accesslog = "-"
errorlog = "-"
# Logged with each request: the time taken, in microseconds (%(D)s).
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(D)sus'
