"""The original design's courier API: a Django REST framework view that validates the
point and publishes it to Redis, served by gunicorn (a production WSGI server):

    PEYK_JWT_SECRET=... PEYK_REDIS=redis://127.0.0.1:6379 \\
      gunicorn --chdir bench/peers/python drf_ingest:application

As in the 2018 post (DriverLocationSerializer with DecimalField(max_digits=9,
decimal_places=6), a CreateModelMixin viewset, redis.publish on `dlchannel`, the answer
{"update_interval": "1/m"}), with what peyk's ingest does too so the comparison is fair:
the courier's JWT (HS256, PROTOCOL.md §2) checked on every request (401, 403 for another
role), the identity taken from the token, and the §4 message with `ts`, fleet and orders.
"""
import json
import os
import time

import django
from django.conf import settings

settings.configure(
    DEBUG=False,
    SECRET_KEY="peyk-bench",  # unused: no sessions, no CSRF (token auth)
    ROOT_URLCONF=__name__,
    ALLOWED_HOSTS=["*"],
    INSTALLED_APPS=["rest_framework"],
    MIDDLEWARE=[],
    DATABASES={},
    REST_FRAMEWORK={
        "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
        "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
        "UNAUTHENTICATED_USER": None,
        "COERCE_DECIMAL_TO_STRING": False,
    },
)
django.setup()

import jwt  # noqa: E402
import redis  # noqa: E402
from django.core.wsgi import get_wsgi_application  # noqa: E402
from django.urls import include, path  # noqa: E402
from rest_framework import exceptions, mixins, permissions, routers, serializers, viewsets  # noqa: E402
from rest_framework.authentication import BaseAuthentication  # noqa: E402
from rest_framework.response import Response  # noqa: E402

SECRET = os.environ["PEYK_JWT_SECRET"]
CHANNEL = os.environ.get("PEYK_CHANNEL", "dlchannel")
BROKER = redis.Redis.from_url(os.environ.get("PEYK_REDIS", "redis://127.0.0.1:6379"))


class Courier:
    is_authenticated = True

    def __init__(self, claims):
        self.id = claims.get("sub")
        self.username = claims.get("name", "")
        self.role = claims.get("role")
        self.fleet = claims.get("fleet")


class CourierTokenAuthentication(BaseAuthentication):
    def authenticate(self, request):
        header = request.META.get("HTTP_AUTHORIZATION", "")
        if not header.startswith("Bearer "):
            return None
        try:
            claims = jwt.decode(header[7:].strip(), SECRET, algorithms=["HS256"], leeway=2,
                                options={"require": ["exp"]})
        except jwt.InvalidTokenError:
            raise exceptions.AuthenticationFailed("invalid token")
        return Courier(claims), claims

    def authenticate_header(self, request):
        return "Bearer"  # makes a missing or bad token a 401, not a 403


class IsCourier(permissions.BasePermission):
    def has_permission(self, request, view):
        return request.user is not None and request.user.role == "courier"


class SimpleUserSerializer(serializers.Serializer):
    id = serializers.SerializerMethodField()
    username = serializers.CharField()

    def get_id(self, user):
        return int(user.id) if str(user.id).isdigit() else user.id


class DriverLocationSerializer(serializers.Serializer):
    latitude = serializers.DecimalField(max_digits=9, decimal_places=6, min_value=-90, max_value=90)
    longitude = serializers.DecimalField(max_digits=9, decimal_places=6, min_value=-180, max_value=180)
    accuracy = serializers.FloatField(required=False)
    speed = serializers.FloatField(required=False)
    heading = serializers.FloatField(required=False)
    recorded_at = serializers.CharField(required=False, max_length=128)
    orders = serializers.ListField(child=serializers.CharField(max_length=128), required=False,
                                   max_length=32)
    user = SimpleUserSerializer(read_only=True)


class DriverLocationEndpoint(mixins.CreateModelMixin, viewsets.GenericViewSet):
    serializer_class = DriverLocationSerializer
    authentication_classes = [CourierTokenAuthentication]
    permission_classes = [IsCourier]

    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        publish_data = {"user": request.user}
        publish_data.update(serializer.validated_data)
        message = dict(self.get_serializer(publish_data).data)
        message["latitude"] = float(message["latitude"])
        message["longitude"] = float(message["longitude"])
        message["ts"] = time.time_ns() // 1000
        if request.user.fleet:
            message["fleet"] = request.user.fleet
        BROKER.publish(CHANNEL, json.dumps(message))
        return Response({"update_interval": "1/m", "update_interval_seconds": 60})


router = routers.SimpleRouter(trailing_slash=False)
router.register(r"api/v1/locations", DriverLocationEndpoint, basename="locations")
urlpatterns = [path("", include(router.urls))]

application = get_wsgi_application()
