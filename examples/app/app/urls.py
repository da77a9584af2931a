from django.urls import path

from notes import views

urlpatterns = [
    path("", views.commit, name="commit"),
    path("healthcheck.html", views.healthcheck),
    path("notes/", views.notes),
    path("notes/<int:note_id>", views.note),
    path("task", views.task),
    path("session", views.session),
    path("secret", views.secret),
]
