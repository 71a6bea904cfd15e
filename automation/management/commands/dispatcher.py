from django.core.management.base import BaseCommand

from automation.execution import dispatcher


class Command(BaseCommand):
    help = "Hand due workflow actions to django-q2 workers (run one or more beside qcluster)."

    def add_arguments(self, parser):
        parser.add_argument("--interval", type=float, default=0.5, help="Seconds between polls.")
        parser.add_argument("--stop-after", type=float, default=None, help="Exit after N seconds.")

    def handle(self, interval, stop_after, **options):
        dispatcher.run_forever(interval=interval, stop_after=stop_after)
