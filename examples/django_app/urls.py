from django.urls import path

from . import views

urlpatterns = [
    path("emails", views.post_email),
    path("jobs/<str:job_id>", views.get_job),
    path("stats", views.stats),
]
