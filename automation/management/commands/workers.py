import faulthandler
import signal

from django.conf import settings
from django.core.management.base import BaseCommand

from automation.execution import cluster


class Command(BaseCommand):
    help = (
        "Run a django-q2 cluster that survives the death of any of its processes "
        "(use instead of qcluster; see automation/cluster.py)."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--grace",
            type=float,
            default=cluster.STOP_GRACE,
            help="Seconds the cluster gets to stop before SIGKILL.",
        )

    def handle(self, grace, **options):
        faulthandler.register(signal.SIGUSR1, all_threads=True)  # py stacks on demand
        settings.SECRET_KEY  # noqa: B018 -- django-q2 signs tasks with it
        cluster.run(grace=grace)
