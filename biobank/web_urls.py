"""URLs of the technicians' web pages."""

app_name = "web"
urlpatterns: list = []
