from django.urls import path

from analysis import views

app_name = "analysis"
urlpatterns = [
    path("", views.plan_list, name="plans"),
    path("runs/<int:pk>/", views.run_report, name="run"),
    path("runs/<int:pk>/report.html", views.run_report_download, name="run-download"),
    path("plans/<slug:name>/rerun/", views.plan_rerun, name="rerun"),
]
