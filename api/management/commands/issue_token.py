"""``manage.py issue_token USERNAME --device NAME``: print a new device token (for scripts and phones)."""

from django.core.management.base import BaseCommand, CommandError, CommandParser

from api.authentication import device_token_issue
from installations.models import User


class Command(BaseCommand):
    help = "Emite un token de dispositivo para un usuario y lo imprime (se muestra solo esta vez)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--device", default="consola", help="Nombre del dispositivo.")

    def handle(self, *args: object, **options: object) -> None:
        user = User.objects.filter(username=options["username"], is_active=True).first()
        if user is None:
            raise CommandError(f"No existe un usuario activo «{options['username']}».")
        _, raw = device_token_issue(user=user, device_name=str(options["device"]))
        self.stdout.write(raw)
