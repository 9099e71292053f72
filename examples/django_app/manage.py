"""``python -m examples.django_app.manage asyncjobs_worker`` (from the repository root) runs a
worker; ``... runserver`` runs the project."""

import os
import sys

if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "examples.django_app.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
