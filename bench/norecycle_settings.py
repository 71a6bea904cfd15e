"""crm.settings with django-q2's worker recycling off, for the memory run of bench/dispatch.py.

django-q2 replaces a worker after 500 tasks by default: that hides a leak.
Here the same two workers run every task of the drain.
"""

from crm.settings import *  # noqa: F403
from crm.settings import Q_CLUSTER

Q_CLUSTER = {**Q_CLUSTER, "recycle": 10**9}
