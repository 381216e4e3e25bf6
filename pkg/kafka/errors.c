/*
 * The one place where librdkafka's error codes become negative errnos, so
 * that callers branch on a small, stable set.
 */
#include <errno.h>
#include <string.h>

#include "kafka-private.h"

int kafka_errno(rd_kafka_resp_err_t e)
{
	switch (e) {
	case RD_KAFKA_RESP_ERR_NO_ERROR:
		return 0;
	case RD_KAFKA_RESP_ERR__QUEUE_FULL:
		return -ENOBUFS;
	case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE:
	case RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE:
		return -EMSGSIZE;
	case RD_KAFKA_RESP_ERR__TIMED_OUT:
	case RD_KAFKA_RESP_ERR__MSG_TIMED_OUT:
	case RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT:
		return -ETIMEDOUT;
	case RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC:
	case RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART:
	case RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION:
		return -ENOENT;
	case RD_KAFKA_RESP_ERR__INVALID_ARG:
	case RD_KAFKA_RESP_ERR_INVALID_CONFIG:
	case RD_KAFKA_RESP_ERR__UNKNOWN_GROUP:
		return -EINVAL;
	case RD_KAFKA_RESP_ERR__PURGE_QUEUE:
	case RD_KAFKA_RESP_ERR__PURGE_INFLIGHT:
	case RD_KAFKA_RESP_ERR__DESTROY:
		return -ECANCELED;
	case RD_KAFKA_RESP_ERR__TRANSPORT:
	case RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN:
	case RD_KAFKA_RESP_ERR__RESOLVE:
		return -ECONNREFUSED;
	case RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED:
	case RD_KAFKA_RESP_ERR_GROUP_AUTHORIZATION_FAILED:
	case RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED:
	case RD_KAFKA_RESP_ERR__AUTHENTICATION:
		return -EACCES;
	case RD_KAFKA_RESP_ERR__FATAL:
	case RD_KAFKA_RESP_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER:
	case RD_KAFKA_RESP_ERR_INVALID_PRODUCER_EPOCH:
	case RD_KAFKA_RESP_ERR_UNKNOWN_PRODUCER_ID:
		return -EIO;
	case RD_KAFKA_RESP_ERR__NO_OFFSET:
		return -ENOENT;
	default:
		return -EPROTO;
	}
}

const char *kafka_strerror(int err)
{
	switch (err) {
	case 0:
		return "success";
	case -ENOBUFS:
		return "the producer's local queue is full";
	case -EMSGSIZE:
		return "message larger than the broker or client allows";
	case -ETIMEDOUT:
		return "timed out";
	case -ENOENT:
		return "unknown topic or partition";
	case -EINVAL:
		return "invalid argument or configuration";
	case -ECANCELED:
		return "cancelled (handle closing or queue purged)";
	case -ECONNREFUSED:
		return "brokers unreachable";
	case -EACCES:
		return "not authorized";
	case -EIO:
		return "fatal producer error (idempotence broken)";
	case -ENOSPC:
		return "more partitions than the caller has room for";
	case -ENOMEM:
		return "out of memory";
	case -EAGAIN:
		return "nothing yet";
	default:
		return "Kafka protocol error";
	}
}
