from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("worker", "0002_legacy_import_job_kind"),
    ]

    operations = [
        migrations.AlterField(
            model_name="job",
            name="kind",
            field=models.CharField(
                choices=[
                    ("coverage_full", "Compilación completa de cobertura"),
                    ("coverage_incremental", "Actualización incremental de cobertura"),
                    ("legacy_import", "Importación de hoja legada"),
                    ("export", "Exportación de registros"),
                ],
                max_length=30,
                verbose_name="tipo",
            ),
        ),
    ]
