/* iam_evaluate: what a role's policies say of one call, as check reads them. */
#include "agent/iam.h"
#include "check.h"

#include <stdlib.h>

static enum iam_verdict eval(const char *doc, const char *action, const char *resource)
{
	char *docs[1] = { (char *)doc };
	struct iam_policies p = { docs, 1, 1 };
	char why[160];
	return iam_evaluate(&p, action, resource, why, sizeof why);
}

static void test_wildcards(void)
{
	const char *doc = "{\"Statement\": [{\"Effect\": \"Allow\", \"Action\": [\"ecs:Run*\", \"iam:Pass?ole\"], "
			  "\"Resource\": \"arn:aws:ecs:us-east-1:1:task-definition/app:*\"}]}";
	CHECK(eval(doc, "ecs:RunTask", "arn:aws:ecs:us-east-1:1:task-definition/app:3") == IAM_ALLOWED);
	CHECK(eval(doc, "ECS:runtask", "arn:aws:ecs:us-east-1:1:task-definition/app:3") == IAM_ALLOWED); /* actions: any case */
	CHECK(eval(doc, "ecs:RunTask", "arn:aws:ecs:us-east-1:1:task-definition/other:3") == IAM_DENIED);
	CHECK(eval(doc, "ecs:RunTask", "arn:aws:ecs:us-east-1:1:task-definition/APP:3") == IAM_DENIED); /* resources: exact case */
	CHECK(eval(doc, "ecs:StopTask", "arn:aws:ecs:us-east-1:1:task-definition/app:3") == IAM_DENIED);
	/* A single statement object, not a list. */
	CHECK(eval("{\"Statement\": {\"Effect\": \"Allow\", \"Action\": \"*\", \"Resource\": \"*\"}}", "states:SendTaskSuccess",
		   "*") == IAM_ALLOWED);
	/* A resource-scoped Allow does not cover an action that takes "*". */
	CHECK(eval("{\"Statement\": [{\"Effect\": \"Allow\", \"Action\": \"states:*\", \"Resource\": "
		   "\"arn:aws:states:us-east-1:1:stateMachine:x\"}]}", "states:SendTaskSuccess", "*") == IAM_DENIED);
}

static void test_cannot_tell(void)
{
	CHECK(eval("{\"Statement\": [{\"Effect\": \"Allow\", \"Action\": \"*\", \"Resource\": \"*\"}, {\"Effect\": "
		   "\"Deny\", \"Action\": \"iam:PassRole\", \"Resource\": \"*\"}]}", "iam:PassRole", "arn:r") == IAM_CANNOT_TELL);
	CHECK(eval("{\"Statement\": [{\"Effect\": \"Allow\", \"Action\": \"iam:PassRole\", \"Resource\": \"*\", "
		   "\"Condition\": {\"StringEquals\": {\"iam:PassedToService\": \"ecs-tasks.amazonaws.com\"}}}]}",
		   "iam:PassRole", "arn:r") == IAM_CANNOT_TELL);
	CHECK(eval("{\"Statement\": [{\"Effect\": \"Allow\", \"NotAction\": \"iam:*\", \"Resource\": \"*\"}]}", "ecs:RunTask",
		   "arn:r") == IAM_CANNOT_TELL);
	/* A Deny of something else changes nothing. */
	CHECK(eval("{\"Statement\": [{\"Effect\": \"Allow\", \"Action\": \"*\", \"Resource\": \"*\"}, {\"Effect\": "
		   "\"Deny\", \"Action\": \"s3:*\", \"Resource\": \"*\"}]}", "iam:PassRole", "arn:r") == IAM_ALLOWED);
	/* Not JSON: nothing allowed. */
	CHECK(eval("not json", "ecs:RunTask", "arn:r") == IAM_DENIED);
}

static void test_helpers(void)
{
	char *s = iam_url_decode("%7B%22Version%22%3A+%222012%22%7D");
	CHECK_STR(s, "{\"Version\": \"2012\"}");
	free(s);
	s = iam_role_name("arn:aws:iam::123456789012:role/service-role/MyRole");
	CHECK_STR(s, "MyRole");
	free(s);
	CHECK(iam_role_name("arn:aws:iam::123456789012:user/u") == NULL);
}

int main(void)
{
	RUN(test_wildcards);
	RUN(test_cannot_tell);
	RUN(test_helpers);
	return CHECK_DONE();
}
