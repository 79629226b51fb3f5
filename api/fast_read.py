"""Output serializers that read a list at the speed of plain attribute access.

DRF looks up every field of every row through its generic machinery (source traversal, type
checks, a to_representation call), and builds a new serializer per row for nested role-dependent
fields: about 20 ms for a 50-row installation page, most of a request. ``CompiledReadMixin`` turns
the declared fields, once per serializer instance (so once per list), into a plan of small readers,
using plain getters for the field types whose output is the value itself and the field's own
``to_representation`` for everything else (decimals, datetimes, custom fields). The declared fields
stay the contract and the OpenAPI schema; ``tests/api/test_fast_read.py`` checks both paths give
identical output.
"""

from __future__ import annotations

from collections.abc import Callable
from operator import attrgetter
from typing import Any

from rest_framework import ISO_8601, relations, serializers
from rest_framework.settings import api_settings

Reader = Callable[[Any], Any]

# Field types whose representation of a non-None value of the right Python type is the value itself.
_IDENTITY = {serializers.CharField, serializers.IntegerField, serializers.BooleanField, serializers.ChoiceField}
ENABLED = True  # tests switch this off to compare with DRF's own path


def _getter(field: serializers.Field) -> Reader:
    if field.source == "*":
        return lambda obj: obj
    return attrgetter(".".join(field.source_attrs))


def _with_none(get: Reader, convert: Reader) -> Reader:
    def read(obj: Any) -> Any:
        value = get(obj)
        return None if value is None else convert(value)

    return read


def _reader(field: serializers.Field) -> Reader:
    custom = getattr(field, "compiled_reader", None)
    if custom is not None:
        return custom()
    if isinstance(field, serializers.ListSerializer):
        get, child = _getter(field), field.child
        return lambda obj: [child.to_representation(item) for item in get(obj).all()]
    if isinstance(field, serializers.BaseSerializer):
        return _with_none(_getter(field), field.to_representation)
    if type(field) is relations.PrimaryKeyRelatedField and len(field.source_attrs) == 1 and field.pk_field is None:
        return attrgetter(f"{field.source_attrs[0]}_id")
    get = _getter(field)
    if any(type(field).to_representation is base.to_representation for base in _IDENTITY):
        return get  # the base class's own output, not overridden (EnumField yes, MaskedCurpField no)
    if type(field) is serializers.DateField and getattr(field, "format", api_settings.DATE_FORMAT) == ISO_8601:
        return _with_none(get, lambda value: value.isoformat())
    if type(field) is serializers.UUIDField:
        return _with_none(get, str)
    return _with_none(get, field.to_representation)


class CompiledReadMixin:
    """Build each row from a plan compiled once per serializer instance (see the module docstring).

    A serializer whose output does not depend on who asks (``plan_per_class = True``) keeps one plan
    for the class, so a request does not even build its fields.
    """

    plan_per_class = False

    def to_representation(self, instance: Any) -> dict[str, Any]:
        if not ENABLED:
            return super().to_representation(instance)  # type: ignore[misc]
        holder = type(self).__dict__ if self.plan_per_class else self.__dict__
        plan = holder.get("_compiled_plan")
        if plan is None:
            fields = self._readable_fields  # type: ignore[attr-defined]
            plan = [(field.field_name, _reader(field)) for field in fields]
            if self.plan_per_class:
                type(self)._compiled_plan = plan  # type: ignore[attr-defined]
            else:
                self.__dict__["_compiled_plan"] = plan
        return {name: read(instance) for name, read in plan}
