"""What regulations will fix is configuration: the children-not-in-school settings from the
environment, and a clear error for one that cannot be read."""
import pytest

from cnis import CnisSettings, CnisSettingsError


def test_defaults_until_regulations_say_otherwise():
    s = CnisSettings.from_environ({})
    assert (s.provider_hours_threshold, s.provider_interval_months, s.home_visit_days, s.response_days,
            s.extra_items) == (0.0, 3, 15, 15, ())


def test_settings_from_the_environment():
    s = CnisSettings.from_environ({"ROLLCALL_CNIS_PROVIDER_HOURS": "2.5", "ROLLCALL_CNIS_PROVIDER_INTERVAL_MONTHS": "6",
                                   "ROLLCALL_CNIS_HOME_VISIT_DAYS": "10", "ROLLCALL_CNIS_RESPONSE_DAYS": "20",
                                   "ROLLCALL_CNIS_EXTRA_ITEMS": " SEN, child_in_need ,"})
    assert (s.provider_hours_threshold, s.provider_interval_months, s.home_visit_days, s.response_days,
            s.extra_items) == (2.5, 6, 10, 20, ("sen", "child_in_need"))


@pytest.mark.parametrize("name, value", [("ROLLCALL_CNIS_PROVIDER_INTERVAL_MONTHS", "three"),
                                         ("ROLLCALL_CNIS_HOME_VISIT_DAYS", "-1"),
                                         ("ROLLCALL_CNIS_EXTRA_ITEMS", "sen;<script>")])
def test_a_setting_that_cannot_be_read_names_its_variable(name, value):
    with pytest.raises(CnisSettingsError) as err:
        CnisSettings.from_environ({name: value})
    assert name in str(err.value)
