"""The operators' console: Pylon's Django admin site, its dashboard, charts and figure formatting.

The apps' ``admin.py`` modules hold their ModelAdmins; what they share lives here. Visibility is
never decided here: every figure comes through the apps' selectors with the signed-in user.
"""
