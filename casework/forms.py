"""The sign-in form: user name, password and the one-time code from the user's authenticator
app, checked by Django's authentication (with django-axes' lockout) and django-otp."""
from django import forms
from django.contrib.auth.forms import AuthenticationForm
from django_otp import devices_for_user
from django_otp.forms import OTPAuthenticationForm

from casework.audited import client_address
from casework.database import register_engine
from oversight import record


class SignInForm(OTPAuthenticationForm):
    otp_error_messages = dict(OTPAuthenticationForm.otp_error_messages,
                              token_required="Enter the 6-digit code from your authenticator app",
                              invalid_token="The code is not right: enter the code your app shows now")
    error_messages = dict(OTPAuthenticationForm.error_messages,
                          invalid_login="Enter a correct user name and password")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["username"].label = "User name"
        self.fields["username"].widget.attrs.update({"autocomplete": "username", "class": "govuk-input",
                                                      "spellcheck": "false"})
        self.fields["password"].widget.attrs.update({"autocomplete": "current-password", "class": "govuk-input"})
        self.fields["otp_token"] = forms.CharField(
            label="One-time code", required=False,
            widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric",
                                          "class": "govuk-input govuk-input--width-5", "spellcheck": "false"}))

    def clean(self):
        """The password first (Django, django-axes); then the code against the user's one
        authenticator device, as django-otp's documented clean_otp does it."""
        self.cleaned_data = AuthenticationForm.clean(self)
        user = self.get_user()
        device = next(iter(devices_for_user(user, confirmed=True)), None) if user else None
        self.cleaned_data["otp_device"] = device.persistent_id if device else None
        try:
            self.clean_otp(user)
        except forms.ValidationError:
            # The password was right (or Django would have refused it above, and logged it).
            record(register_engine(), user.get_username(), "sign_in_failed", detail={"failed": "one-time code"},
                   source=client_address(self.request))
            raise
        return self.cleaned_data
