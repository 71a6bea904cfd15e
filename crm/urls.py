from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.authtoken.views import obtain_auth_token
from rest_framework.permissions import IsAuthenticated
from rest_framework.routers import DefaultRouter

from automation.api.enrollment import router as enrollment_router
from automation.api.fields import router as fields_router
from automation.api.guard import router as guard_router
from automation.api.integration import router as integration_router
from automation.api.workflows import ConstantsView
from automation.api.workflows import router as automation_router
from crm import demo, health
from leads.api import router as leads_router

# One router, so the API root lists every endpoint.
router = DefaultRouter()
for registry in (
    leads_router.registry,
    automation_router.registry,
    integration_router.registry,
    guard_router.registry,
    enrollment_router.registry,
    fields_router.registry,
):
    for prefix, viewset, basename in registry:
        router.register(prefix, viewset, basename=basename)

# The schema and its docs need a login, like everything else (session or token).
LOGGED_IN = [IsAuthenticated]

api = [
    path("auth/token/", obtain_auth_token, name="api-token"),
    path("schema/", SpectacularAPIView.as_view(permission_classes=LOGGED_IN), name="api-schema"),
    path(
        "docs/",
        SpectacularSwaggerView.as_view(url_name="api-schema", permission_classes=LOGGED_IN),
        name="api-docs",
    ),
    path("constants/", ConstantsView.as_view(), name="constants"),
    path("", include(router.urls)),
]

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", include(api)),
    path("demo/receiver/", demo.receiver, name="demo-receiver"),  # 404 unless DEMO_RECEIVER
    path("healthz", health.healthz, name="healthz"),
    path("metrics", health.metrics, name="metrics"),
]
