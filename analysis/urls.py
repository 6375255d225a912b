from django.urls import path

from analysis import views

app_name = "analysis"
urlpatterns = [
    path("", views.plan_list, name="plans"),
    path("runs/<int:pk>/", views.run_report, name="run"),
    path("runs/<int:pk>/report.html", views.run_report_download, name="run-download"),
    path("runs/<int:pk>/miqe/", views.run_miqe, name="run-miqe"),
    path("runs/<int:pk>/miqe.csv", views.run_miqe, name="run-miqe-csv"),
    path("runs/<int:pk>/figures/<slug:slug>.svg", views.run_figure_svg, name="run-figure"),
    path("runs/<int:pk>/tables/<slug:slug>.csv", views.run_table_csv, name="run-table"),
    path("plans/<slug:name>/runs/", views.plan_runs, name="plan-runs"),
    path("plans/<slug:name>/rerun/", views.plan_rerun, name="rerun"),
]
