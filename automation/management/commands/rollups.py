from django.core.management.base import BaseCommand

from automation.insight import rollups


class Command(BaseCommand):
    help = (
        "Fold the workflow log into the per-workflow hourly rollups (what the "
        "'Fold workflow rollups' schedule does every minute); --rebuild recounts them all."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--rebuild", action="store_true", help="Recount every rollup from the log."
        )

    def handle(self, rebuild=False, **options):
        slices = rollups.rebuild() if rebuild else rollups.fold()
        done = "rebuilt" if rebuild else "folded"
        self.stdout.write(f"rollups {done} ({slices} per-minute counts in the overlap window)")
