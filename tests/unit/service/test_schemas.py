import pytest
from pydantic import ValidationError

from ethos.service.schemas import ChatRequest
from ethos.settings import MAX_MESSAGE_CHARS, Settings


def test_minimal_request():
    r = ChatRequest.model_validate({"message": "What are your pricing plans?"})
    assert r.stream is False and r.cache.no_store is False and r.session_id is None


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"message": ""},
        {"message": "   "},
        {"message": 42},
        {"message": "x" * (MAX_MESSAGE_CHARS + 1)},
        {"message": "hi", "stream": "yes"},
        {"message": "hi", "cache": {"ttl": 0}},
        {"message": "hi", "cache": {"ttl": "10"}},
        {"message": "hi", "cache": {"namespace": "Bad Namespace!"}},
        {"message": "hi", "cache": {"unknown": True}},
        {"message": "hi", "extra": 1},
    ],
)
def test_bad_requests_are_refused(body):
    with pytest.raises(ValidationError):
        ChatRequest.model_validate(body)


def test_message_at_the_limit_is_accepted():
    ChatRequest.model_validate({"message": "x" * MAX_MESSAGE_CHARS})


def test_settings_defaults_and_env(monkeypatch, tmp_path):
    monkeypatch.setenv("ETHOS_REVISION", "green")
    monkeypatch.setenv("ETHOS_STATE_DIR", str(tmp_path))
    s = Settings()
    assert s.revision == "green"
    assert s.resolved_cache_url() == f"sqlite:///{tmp_path}/cache.sqlite3"
    assert "secret" not in repr(Settings(admin_api_key="secret"))


def test_bad_revision_name_is_refused():
    with pytest.raises(ValidationError):
        Settings(revision="blue green")
