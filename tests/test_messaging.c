/*
 * test_messaging.c - src/messaging.c against tests/fixtures/fake_messaging
 * over loopback: the exact wire format of an SMS and an e-mail, the
 * classification of each provider's answers (transient, refused
 * credentials, permanent refusals of one message), an answer lost after
 * sending told apart from a request never sent, missing settings, and the
 * credential checks behind `check`; and the same classification of
 * answers given as bytes (messaging_answer()).
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "ckrun.h"
#include "config.h"
#include "http_client.h"
#include "messaging.h"
#include "metrics.h"
#include "mfake.h"
#include "timeutil.h"

#define FROM_NUMBER "+15550006666"
#define EMAIL_SENDER "hello@catchup.example"

static struct mfake F;
static struct config cfg;
static struct messaging *M;

/* Settings pointing at the fake with working credentials. */
static void config_for(struct config *c, const char *url)
{
	memset(c, 0, sizeof(*c));
	c->twilio_api_url = (char *)url;
	c->twilio_account_sid = MFAKE_TWILIO_SID;
	c->twilio_auth_token = MFAKE_TWILIO_TOKEN;
	c->twilio_from_number = FROM_NUMBER;
	c->sendgrid_api_url = (char *)url;
	c->sendgrid_api_key = MFAKE_SENDGRID_KEY;
	c->email_from = EMAIL_SENDER;
}

static void setup(void)
{
	ck_assert_int_eq(mfake_control(&F, "reset", "{}"), 0);
	config_for(&cfg, F.url);
	M = messaging_new(&cfg);
	ck_assert_ptr_nonnull(M);
}

static void teardown(void)
{
	messaging_free(M);
	M = NULL;
}

static struct messaging_call call_ms(long ms)
{
	struct messaging_call c = {time_mono_ms() + ms, NULL, NULL};

	return c;
}

static json_t *messages(void)
{
	json_t *m = mfake_get(&F, "messages");

	ck_assert_ptr_nonnull(m);
	return m;
}

static size_t message_count(void)
{
	json_t *m = messages();
	size_t n = json_array_size(m);

	json_decref(m);
	return n;
}

static long provider_errors(const char *provider, const char *reason)
{
	struct buf b;
	char pat[160];
	const char *p;
	long v = 0;

	buf_init(&b, 1u << 20);
	ck_assert_int_eq(metrics_render(&b), 0);
	snprintf(pat, sizeof(pat), "catchup_jobs_provider_errors_total{provider=\"%s\",reason=\"%s\"} ",
	         provider, reason);
	p = strstr(buf_str(&b), pat);
	if (p)
		v = strtol(p + strlen(pat), NULL, 10);
	buf_release(&b);
	return v;
}

/* No secret in a result's message. */
static void assert_no_secret(const struct messaging_result *r)
{
	ck_assert_ptr_null(strstr(r->message, MFAKE_TWILIO_TOKEN));
	ck_assert_ptr_null(strstr(r->message, MFAKE_SENDGRID_KEY));
	ck_assert_ptr_null(strstr(r->message, "wrong-secret"));
}

START_TEST(sms_goes_out_form_encoded_with_basic_auth)
{
	struct messaging_call call = call_ms(10000);
	struct messaging_result r;
	json_t *all, *m;

	ck_assert_int_eq(messaging_sms(M, "+15551234567", "Lunch with Ann & Bob? 5+1 = café", &call,
	                               &r),
	                 CJ_OK);
	ck_assert_int_eq(r.kind, MESSAGING_ERR_NONE);
	ck_assert_int_eq(r.http_status, 201);
	ck_assert_int_eq(r.maybe_sent, 0);
	ck_assert(!strncmp(r.provider_id, "SM", 2) && strlen(r.provider_id) == 34);
	all = messages();
	ck_assert_int_eq(json_array_size(all), 1);
	m = json_array_get(all, 0);
	ck_assert_str_eq(json_string_value(json_object_get(m, "provider")), "twilio");
	ck_assert_str_eq(json_string_value(json_object_get(m, "id")), r.provider_id);
	ck_assert_str_eq(json_string_value(json_object_get(m, "to")), "+15551234567");
	ck_assert_str_eq(json_string_value(json_object_get(m, "from")), FROM_NUMBER);
	ck_assert_str_eq(json_string_value(json_object_get(m, "body")),
	                 "Lunch with Ann & Bob? 5+1 = café");
	ck_assert_str_eq(json_string_value(json_object_get(m, "contentType")),
	                 "application/x-www-form-urlencoded");
	ck_assert_str_eq(json_string_value(json_object_get(m, "raw")),
	                 "To=%2B15551234567&From=%2B15550006666&Body=Lunch%20with%20Ann%20%26%20Bob"
	                 "%3F%205%2B1%20%3D%20caf%C3%A9");
	json_decref(all);
}
END_TEST

START_TEST(email_goes_out_as_sendgrid_json_with_bearer)
{
	struct messaging_call call = call_ms(10000);
	struct messaging_result r;
	json_t *all, *m, *sent, *want;

	ck_assert_int_eq(messaging_email(M, "ann@example.com", "Catch up with \"Bob\"",
	                                 "Line one\nLine two", &call, &r),
	                 CJ_OK);
	ck_assert_int_eq(r.http_status, 202);
	ck_assert_int_eq(strlen(r.provider_id), 32);
	all = messages();
	ck_assert_int_eq(json_array_size(all), 1);
	m = json_array_get(all, 0);
	ck_assert_str_eq(json_string_value(json_object_get(m, "provider")), "sendgrid");
	ck_assert_str_eq(json_string_value(json_object_get(m, "id")), r.provider_id);
	ck_assert_str_eq(json_string_value(json_object_get(m, "contentType")), "application/json");
	sent = json_loads(json_string_value(json_object_get(m, "raw")), 0, NULL);
	want = json_pack("{s:[{s:[{s:s}]}], s:{s:s}, s:s, s:[{s:s, s:s}]}", "personalizations",
	                 "to", "email", "ann@example.com", "from", "email", EMAIL_SENDER, "subject",
	                 "Catch up with \"Bob\"", "content", "type", "text/plain", "value",
	                 "Line one\nLine two");
	ck_assert_msg(json_equal(sent, want), "sent %s", json_string_value(json_object_get(m, "raw")));
	json_decref(sent);
	json_decref(want);
	json_decref(all);
}
END_TEST

START_TEST(throttling_and_5xx_are_transient_with_retry_after)
{
	static const int statuses[] = {429, 500, 503};
	struct messaging_call call = call_ms(10000);
	struct messaging_result r;

	for (size_t i = 0; i < 3; i++) {
		ck_assert_int_eq(mfake_control(&F, "fail",
		                               "{\"target\":\"twilio\",\"count\":1,\"status\":%d,"
		                               "\"retryAfter\":7}",
		                               statuses[i]),
		                 0);
		ck_assert_int_eq(messaging_sms(M, "+15551234567", "hi", &call, &r), CJ_EUNAVAIL);
		ck_assert_int_eq(r.kind, MESSAGING_ERR_TRANSIENT);
		ck_assert_int_eq(r.http_status, statuses[i]);
		ck_assert_int_eq(r.retry_after_s, 7);
		ck_assert_int_eq(r.maybe_sent, 0);
		ck_assert_int_eq(mfake_control(&F, "fail",
		                               "{\"target\":\"sendgrid\",\"count\":1,\"status\":%d,"
		                               "\"retryAfter\":3}",
		                               statuses[i]),
		                 0);
		ck_assert_int_eq(messaging_email(M, "a@example.com", "s", "t", &call, &r), CJ_EUNAVAIL);
		ck_assert_int_eq(r.kind, MESSAGING_ERR_TRANSIENT);
		ck_assert_int_eq(r.retry_after_s, 3);
	}
	ck_assert_int_eq(message_count(), 0);
}
END_TEST

START_TEST(refused_credentials_are_a_configuration_fault)
{
	struct messaging_call call = call_ms(10000);
	struct messaging_result r;
	struct config bad;
	struct messaging *m;
	long tw401 = provider_errors("twilio", "unauthorized");
	long tw403 = provider_errors("twilio", "forbidden");
	long sg401 = provider_errors("sendgrid", "unauthorized");

	config_for(&bad, F.url);
	bad.twilio_auth_token = "wrong-secret";
	bad.sendgrid_api_key = "wrong-secret";
	m = messaging_new(&bad);
	ck_assert_int_eq(messaging_sms(m, "+15551234567", "hi", &call, &r), CJ_ECONFIG);
	ck_assert_int_eq(r.kind, MESSAGING_ERR_REFUSED);
	ck_assert_int_eq(r.http_status, 401);
	ck_assert_int_eq(r.maybe_sent, 0);
	ck_assert_ptr_nonnull(strstr(r.message, "TWILIO_AUTH_TOKEN"));
	assert_no_secret(&r);
	ck_assert_int_eq(provider_errors("twilio", "unauthorized"), tw401 + 1);
	ck_assert_int_eq(messaging_email(m, "a@example.com", "s", "t", &call, &r), CJ_ECONFIG);
	ck_assert_int_eq(r.http_status, 401);
	ck_assert_ptr_nonnull(strstr(r.message, "SENDGRID_API_KEY"));
	assert_no_secret(&r);
	ck_assert_int_eq(provider_errors("sendgrid", "unauthorized"), sg401 + 1);
	messaging_free(m);
	ck_assert_int_eq(
	    mfake_control(&F, "fail", "{\"target\":\"twilio\",\"count\":1,\"status\":403}"), 0);
	ck_assert_int_eq(messaging_sms(M, "+15551234567", "hi", &call, &r), CJ_ECONFIG);
	ck_assert_int_eq(r.http_status, 403);
	ck_assert_int_eq(provider_errors("twilio", "forbidden"), tw403 + 1);
	ck_assert_int_eq(message_count(), 0);
}
END_TEST

START_TEST(a_refused_recipient_is_permanent_for_that_message)
{
	struct messaging_call call = call_ms(10000);
	struct messaging_result r;

	ck_assert_int_eq(mfake_control(&F, "invalid", "{\"to\":\"+15005550001\"}"), 0);
	ck_assert_int_eq(mfake_control(&F, "invalid", "{\"to\":\"bounce@example.com\"}"), 0);
	ck_assert_int_eq(messaging_sms(M, "+15005550001", "hi", &call, &r), CJ_EUPSTREAM);
	ck_assert_int_eq(r.kind, MESSAGING_ERR_PERMANENT);
	ck_assert_int_eq(r.http_status, 400);
	ck_assert_str_eq(r.code, "21211");
	ck_assert_ptr_nonnull(strstr(r.message, "is not a valid phone number"));
	ck_assert_int_eq(messaging_email(M, "bounce@example.com", "s", "t", &call, &r),
	                 CJ_EUPSTREAM);
	ck_assert_int_eq(r.kind, MESSAGING_ERR_PERMANENT);
	ck_assert_str_eq(r.code, "400");
	ck_assert_ptr_nonnull(strstr(r.message, "Does not contain a valid address."));
	/* Another Twilio code injected keeps its code. */
	ck_assert_int_eq(mfake_control(&F, "fail",
	                               "{\"target\":\"twilio\",\"count\":1,\"status\":400,"
	                               "\"code\":21610,\"message\":\"Attempt to send to "
	                               "unsubscribed recipient\"}"),
	                 0);
	ck_assert_int_eq(messaging_sms(M, "+15551234567", "hi", &call, &r), CJ_EUPSTREAM);
	ck_assert_str_eq(r.code, "21610");
	ck_assert_int_eq(message_count(), 0);
	/* Other recipients still go out. */
	ck_assert_int_eq(messaging_sms(M, "+15551234567", "hi", &call, &r), CJ_OK);
}
END_TEST

START_TEST(an_answer_lost_after_sending_may_have_been_sent)
{
	struct messaging_call call = call_ms(700);
	struct messaging_result r;

	/* Accepted, then no answer before the deadline. */
	ck_assert_int_eq(mfake_control(&F, "fail",
	                               "{\"target\":\"twilio\",\"count\":1,\"delayMs\":2500,"
	                               "\"accept\":true}"),
	                 0);
	ck_assert_int_eq(messaging_sms(M, "+15551234567", "hi", &call, &r), CJ_ETIMEOUT);
	ck_assert_int_eq(r.kind, MESSAGING_ERR_TRANSIENT);
	ck_assert_int_eq(r.maybe_sent, 1);
	ck_assert_int_eq(message_count(), 1);
	/* Accepted, then the connection dropped. */
	call = call_ms(10000);
	ck_assert_int_eq(mfake_control(&F, "fail",
	                               "{\"target\":\"sendgrid\",\"count\":1,\"drop\":true,"
	                               "\"accept\":true}"),
	                 0);
	ck_assert_int_eq(messaging_email(M, "a@example.com", "s", "t", &call, &r), CJ_EUNAVAIL);
	ck_assert_int_eq(r.maybe_sent, 1);
	ck_assert_int_eq(message_count(), 2);
	/* The deadline already past: never sent. */
	call = call_ms(-1);
	ck_assert_int_eq(messaging_sms(M, "+15551234567", "hi", &call, &r), CJ_ETIMEOUT);
	ck_assert_int_eq(r.maybe_sent, 0);
}
END_TEST

START_TEST(nothing_listening_was_never_sent)
{
	struct messaging_call call = call_ms(5000);
	struct messaging_result r;
	struct config c;
	struct messaging *m;
	char url[64];

	snprintf(url, sizeof(url), "http://127.0.0.1:%d", free_port());
	config_for(&c, url);
	m = messaging_new(&c);
	ck_assert_int_eq(messaging_sms(m, "+15551234567", "hi", &call, &r), CJ_EUNAVAIL);
	ck_assert_int_eq(r.kind, MESSAGING_ERR_TRANSIENT);
	ck_assert_int_eq(r.maybe_sent, 0);
	ck_assert_int_eq(messaging_email(m, "a@example.com", "s", "t", &call, &r), CJ_EUNAVAIL);
	ck_assert_int_eq(r.maybe_sent, 0);
	messaging_free(m);
}
END_TEST

START_TEST(missing_settings_are_named)
{
	struct messaging_call call = call_ms(5000);
	struct messaging_result r;
	struct config c;
	struct messaging *m;

	memset(&c, 0, sizeof(c));
	c.twilio_api_url = F.url;
	c.sendgrid_api_url = F.url;
	c.sendgrid_api_key = "wrong-secret";
	m = messaging_new(&c);
	ck_assert(!messaging_sms_configured(m));
	ck_assert(!messaging_email_configured(m));
	ck_assert_int_eq(messaging_sms(m, "+15551234567", "hi", &call, &r), CJ_ECONFIG);
	ck_assert_int_eq(r.kind, MESSAGING_ERR_NOT_CONFIGURED);
	ck_assert_str_eq(r.message, "twilio not configured: set TWILIO_ACCOUNT_SID, "
	                            "TWILIO_AUTH_TOKEN, TWILIO_FROM_NUMBER");
	ck_assert_int_eq(messaging_email(m, "a@example.com", "s", "t", &call, &r), CJ_ECONFIG);
	ck_assert_str_eq(r.message, "sendgrid not configured: set EMAIL_FROM");
	ck_assert_int_eq(messaging_check_twilio(m, &call, &r), CJ_ECONFIG);
	ck_assert_int_eq(r.kind, MESSAGING_ERR_NOT_CONFIGURED);
	messaging_free(m);
	ck_assert_int_eq(messaging_sms(NULL, "+15551234567", "hi", &call, &r), CJ_ECONFIG);
	ck_assert_int_eq(message_count(), 0);
	/* Nothing to send is refused before any call. */
	ck_assert(messaging_sms_configured(M));
	ck_assert_int_eq(messaging_sms(M, "", "hi", &call, &r), CJ_EINVAL);
	ck_assert_int_eq(messaging_email(M, "a@example.com", "s", "\xff", &call, &r), CJ_EINVAL);
}
END_TEST

START_TEST(credential_checks)
{
	struct messaging_call call = call_ms(5000);
	struct messaging_result r;
	struct config bad;
	struct messaging *m;
	json_t *st;

	ck_assert_int_eq(messaging_check_twilio(M, &call, &r), CJ_OK);
	ck_assert_int_eq(messaging_check_sendgrid(M, &call, &r), CJ_OK);
	st = mfake_get(&F, "stats");
	ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(st, "twilio"), "checks")),
	                 1);
	ck_assert_int_eq(
	    json_integer_value(json_object_get(json_object_get(st, "sendgrid"), "checks")), 1);
	json_decref(st);
	config_for(&bad, F.url);
	bad.twilio_auth_token = "wrong-secret";
	bad.sendgrid_api_key = "wrong-secret";
	m = messaging_new(&bad);
	ck_assert_int_eq(messaging_check_twilio(m, &call, &r), CJ_ECONFIG);
	ck_assert_ptr_nonnull(strstr(r.message, "credentials refused"));
	assert_no_secret(&r);
	ck_assert_int_eq(messaging_check_sendgrid(m, &call, &r), CJ_ECONFIG);
	ck_assert_ptr_nonnull(strstr(r.message, "credentials refused"));
	assert_no_secret(&r);
	messaging_free(m);
	ck_assert_int_eq(message_count(), 0);
}
END_TEST

/* messaging_answer(): the same classification, of answers given as bytes. */
START_TEST(answers_classified_without_a_call)
{
	static const char ok[] = "{\"sid\":\"SM0123\",\"status\":\"queued\"}";
	static const char bad[] = "{\"code\":21211,\"message\":\"not a valid phone number\"}";
	static const char sg[] = "{\"errors\":[{\"message\":\"invalid\",\"field\":\"to\"}]}";
	static const char hdr[] = "HTTP/1.1 202 Accepted\r\nX-Message-Id: W7nM3y \r\n";
	struct messaging_result r;

	ck_assert_int_eq(messaging_answer(MESSAGING_TWILIO, 201, NULL, 0, ok, strlen(ok), &r),
	                 CJ_OK);
	ck_assert_str_eq(r.provider_id, "SM0123");
	ck_assert_int_eq(messaging_answer(MESSAGING_TWILIO, 400, NULL, 0, bad, strlen(bad), &r),
	                 CJ_EUPSTREAM);
	ck_assert_str_eq(r.code, "21211");
	ck_assert_int_eq(r.kind, MESSAGING_ERR_PERMANENT);
	ck_assert_int_eq(
	    messaging_answer(MESSAGING_TWILIO, 429, "Retry-After: 5\r\n", 16, "", 0, &r),
	    CJ_EUNAVAIL);
	ck_assert_int_eq(r.retry_after_s, 5);
	ck_assert_int_eq(r.maybe_sent, 0);
	ck_assert_int_eq(messaging_answer(MESSAGING_SENDGRID, 202, hdr, strlen(hdr), "", 0, &r),
	                 CJ_OK);
	ck_assert_str_eq(r.provider_id, "W7nM3y");
	ck_assert_int_eq(messaging_answer(MESSAGING_SENDGRID, 400, NULL, 0, sg, strlen(sg), &r),
	                 CJ_EUPSTREAM);
	ck_assert_str_eq(r.code, "400");
	ck_assert_ptr_nonnull(strstr(r.message, "(to)"));
	ck_assert_int_eq(messaging_answer(MESSAGING_SENDGRID, 403, NULL, 0, "", 0, &r), CJ_ECONFIG);
	ck_assert_int_eq(r.kind, MESSAGING_ERR_REFUSED);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("messaging");
	TCase *tc = tcase_create("core");
	int failed;

	if (http_client_global_init() || mfake_start(&F))
		return 1;
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, sms_goes_out_form_encoded_with_basic_auth);
	tcase_add_test(tc, email_goes_out_as_sendgrid_json_with_bearer);
	tcase_add_test(tc, throttling_and_5xx_are_transient_with_retry_after);
	tcase_add_test(tc, refused_credentials_are_a_configuration_fault);
	tcase_add_test(tc, a_refused_recipient_is_permanent_for_that_message);
	tcase_add_test(tc, an_answer_lost_after_sending_may_have_been_sent);
	tcase_add_test(tc, nothing_listening_was_never_sent);
	tcase_add_test(tc, missing_settings_are_named);
	tcase_add_test(tc, credential_checks);
	suite_add_tcase(s, tc);
	tc = tcase_create("answers");
	tcase_add_test(tc, answers_classified_without_a_call);
	suite_add_tcase(s, tc);
	failed = ck_run(s, CK_NOFORK);
	mfake_stop(&F);
	http_client_global_cleanup();
	return failed ? 1 : 0;
}
