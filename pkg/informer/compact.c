/*
 * The informer cache's compact form of an object: its unformatted JSON,
 * compressed with raw deflate against a preset dictionary.
 *
 * A cJSON tree of a Deployment as the API server returns it takes about
 * 20 KB of heap (a 64-byte node and one or two small strings per value,
 * managedFields included); its JSON without managedFields is about 2 KB
 * and compresses to a few hundred bytes. The dictionary is the shape of
 * the objects this operator caches (server-filled defaults included), so
 * even a small object compresses well: deflate refers back into it for
 * the keys and values every object of a kind repeats.
 * Reads decode (inflate and parse) a fresh tree, which callers own anyway.
 *
 * The streams are per call: a kept z_stream costs about 256 KB, more than
 * a thousand cached objects.
 */
#include "informer-private.h"

#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "pkg/util/util.h"

/* A 32 KB window: the whole dictionary stays in reach. */
#define COMPACT_WINDOW_BITS 15

/* One object of each kind, least common first: deflate's distances to the
 * end of the dictionary are the cheapest. Identifiers, resourceVersions and
 * timestamps are placeholders of the right shape. */
static const char dictionary[] =
	"{\"apiVersion\":\"apps/v1\",\"kind\":\"StatefulSet\",\"metadata\":{\"creationTimestamp\":\"2026-01-01T0"
	"0:00:00Z\",\"generation\":1,\"labels\":{\"app.kubernetes.io/component\":\"clickhouse\",\"app.kuberne"
	"tes.io/instance\":\"posthog\",\"app.kubernetes.io/managed-by\":\"posthog-operator\",\"app.kubernet"
	"es.io/name\":\"clickhouse\",\"app.kubernetes.io/part-of\":\"posthog\"},\"name\":\"posthog-clickhouse"
	"-0\",\"namespace\":\"t1\",\"resourceVersion\":\"1\",\"uid\":\"00000000-0000-0000-0000-000000000000\"},\""
	"spec\":{\"persistentVolumeClaimRetentionPolicy\":{\"whenDeleted\":\"Retain\",\"whenScaled\":\"Retain"
	"\"},\"podManagementPolicy\":\"Parallel\",\"replicas\":1,\"revisionHistoryLimit\":10,\"selector\":{\"ma"
	"tchLabels\":{\"app.kubernetes.io/component\":\"clickhouse\",\"app.kubernetes.io/instance\":\"posth"
	"og\",\"app.kubernetes.io/name\":\"clickhouse\",\"posthog.com/clickhouse-shard\":\"0\"}},\"serviceNam"
	"e\":\"posthog-clickhouse-0\",\"template\":{\"metadata\":{\"annotations\":{\"posthog.com/config-hash\""
	":\"38dfd2885df5527e\"},\"labels\":{\"app.kubernetes.io/component\":\"clickhouse\",\"app.kubernetes."
	"io/instance\":\"posthog\",\"app.kubernetes.io/managed-by\":\"posthog-operator\",\"app.kubernetes.i"
	"o/name\":\"clickhouse\",\"app.kubernetes.io/part-of\":\"posthog\",\"posthog.com/clickhouse-shard\":"
	"\"0\"}},\"spec\":{\"affinity\":{\"podAntiAffinity\":{\"preferredDuringSchedulingIgnoredDuringExecut"
	"ion\":[{\"podAffinityTerm\":{\"labelSelector\":{\"matchLabels\":{\"app.kubernetes.io/component\":\"c"
	"lickhouse\",\"app.kubernetes.io/instance\":\"posthog\",\"app.kubernetes.io/name\":\"clickhouse\"}},"
	"\"topologyKey\":\"kubernetes.io/hostname\"},\"weight\":100}]}},\"containers\":[{\"env\":[{\"name\":\"CL"
	"ICKHOUSE_SHARD\",\"value\":\"0\"},{\"name\":\"CLICKHOUSE_SKIP_USER_SETUP\",\"value\":\"1\"},{\"name\":\"CL"
	"ICKHOUSE_ADMIN_PASSWORD\",\"valueFrom\":{\"secretKeyRef\":{\"key\":\"password\",\"name\":\"posthog-cli"
	"ckhouse\"}}}],\"image\":\"clickhouse/clickhouse-server:24.8.7.41\",\"imagePullPolicy\":\"IfNotPres"
	"ent\",\"livenessProbe\":{\"failureThreshold\":6,\"httpGet\":{\"path\":\"/ping\",\"port\":\"http\",\"scheme"
	"\":\"HTTP\"},\"initialDelaySeconds\":60,\"periodSeconds\":10,\"successThreshold\":1,\"timeoutSeconds"
	"\":1},\"name\":\"clickhouse\",\"ports\":[{\"containerPort\":8123,\"name\":\"http\",\"protocol\":\"TCP\"},{\""
	"containerPort\":9000,\"name\":\"native\",\"protocol\":\"TCP\"},{\"containerPort\":9009,\"name\":\"inters"
	"erver\",\"protocol\":\"TCP\"}],\"readinessProbe\":{\"failureThreshold\":3,\"httpGet\":{\"path\":\"/ping\""
	",\"port\":\"http\",\"scheme\":\"HTTP\"},\"initialDelaySeconds\":10,\"periodSeconds\":10,\"successThresh"
	"old\":1,\"timeoutSeconds\":1},\"resources\":{},\"terminationMessagePath\":\"/dev/termination-log\","
	"\"terminationMessagePolicy\":\"File\",\"volumeMounts\":[{\"mountPath\":\"/var/lib/clickhouse\",\"name"
	"\":\"data\"},{\"mountPath\":\"/etc/clickhouse-server/config.d\",\"name\":\"config\"},{\"mountPath\":\"/e"
	"tc/clickhouse-server/users.d\",\"name\":\"users\"}]}],\"dnsPolicy\":\"ClusterFirst\",\"restartPolicy"
	"\":\"Always\",\"schedulerName\":\"default-scheduler\",\"securityContext\":{\"fsGroup\":101,\"runAsGrou"
	"p\":101,\"runAsNonRoot\":true,\"runAsUser\":101},\"terminationGracePeriodSeconds\":60,\"volumes\":["
	"{\"configMap\":{\"defaultMode\":420,\"name\":\"posthog-clickhouse\"},\"name\":\"config\"},{\"configMap\""
	":{\"defaultMode\":420,\"name\":\"posthog-clickhouse-users\"},\"name\":\"users\"}]}},\"updateStrategy\""
	":{\"type\":\"OnDelete\"},\"volumeClaimTemplates\":[{\"apiVersion\":\"v1\",\"kind\":\"PersistentVolumeCl"
	"aim\",\"metadata\":{\"labels\":{\"app.kubernetes.io/component\":\"clickhouse\",\"app.kubernetes.io/i"
	"nstance\":\"posthog\",\"app.kubernetes.io/managed-by\":\"posthog-operator\",\"app.kubernetes.io/na"
	"me\":\"clickhouse\",\"app.kubernetes.io/part-of\":\"posthog\"},\"name\":\"data\"},\"spec\":{\"accessMode"
	"s\":[\"ReadWriteOnce\"],\"resources\":{\"requests\":{\"storage\":\"50Gi\"}},\"volumeMode\":\"Filesystem\""
	"},\"status\":{\"phase\":\"Pending\"}}]},\"status\":{\"availableReplicas\":1,\"collisionCount\":0,\"curr"
	"entReplicas\":1,\"currentRevision\":\"posthog-clickhouse-0-74988bc6b7\",\"observedGeneration\":1,"
	"\"readyReplicas\":1,\"replicas\":1,\"updateRevision\":\"posthog-clickhouse-0-74988bc6b7\",\"updated"
	"Replicas\":1}}{\"apiVersion\":\"batch/v1\",\"kind\":\"Job\",\"metadata\":{\"annotations\":{\"posthog.com"
	"/version\":\"03bc2ff27ab6730aef6b418718014e523e206fd3\"},\"creationTimestamp\":\"2026-01-01T00:0"
	"0:00Z\",\"generation\":1,\"labels\":{\"app.kubernetes.io/component\":\"migrate\",\"app.kubernetes.io"
	"/instance\":\"posthog\",\"app.kubernetes.io/managed-by\":\"posthog-operator\",\"app.kubernetes.io/"
	"name\":\"posthog\",\"app.kubernetes.io/part-of\":\"posthog\"},\"name\":\"posthog-migrate-03bc2ff-6bc"
	"346ba\",\"namespace\":\"t1\",\"resourceVersion\":\"1\",\"uid\":\"00000000-0000-0000-0000-000000000000\""
	"},\"spec\":{\"activeDeadlineSeconds\":3600,\"backoffLimit\":1,\"completionMode\":\"NonIndexed\",\"com"
	"pletions\":1,\"manualSelector\":false,\"parallelism\":1,\"podReplacementPolicy\":\"TerminatingOrFa"
	"iled\",\"selector\":{\"matchLabels\":{\"batch.kubernetes.io/controller-uid\":\"00000000-0000-0000-"
	"0000-000000000000\"}},\"suspend\":false,\"template\":{\"metadata\":{\"labels\":{\"app.kubernetes.io/"
	"component\":\"migrate\",\"app.kubernetes.io/instance\":\"posthog\",\"app.kubernetes.io/managed-by\""
	":\"posthog-operator\",\"app.kubernetes.io/name\":\"posthog\",\"app.kubernetes.io/part-of\":\"postho"
	"g\",\"batch.kubernetes.io/controller-uid\":\"00000000-0000-0000-0000-000000000000\",\"batch.kube"
	"rnetes.io/job-name\":\"posthog-migrate-03bc2ff-6bc346ba\",\"controller-uid\":\"00000000-0000-000"
	"0-0000-000000000000\",\"job-name\":\"posthog-migrate-03bc2ff-6bc346ba\"}},\"spec\":{\"containers\":"
	"[{\"command\":[\"./bin/migrate\"],\"env\":[{\"name\":\"PRIMARY_DB\",\"value\":\"clickhouse\"},{\"name\":\"K"
	"AFKA_HOSTS\",\"value\":\"posthog-kafka:9092\"},{\"name\":\"CLICKHOUSE_HOST\",\"value\":\"posthog-click"
	"house\"},{\"name\":\"CLICKHOUSE_CLUSTER\",\"value\":\"posthog\"},{\"name\":\"CLICKHOUSE_DATABASE\",\"val"
	"ue\":\"posthog\"},{\"name\":\"CLICKHOUSE_USER\",\"value\":\"admin\"},{\"name\":\"CLICKHOUSE_PASSWORD\",\"v"
	"alueFrom\":{\"secretKeyRef\":{\"key\":\"password\",\"name\":\"posthog-clickhouse\"}}},{\"name\":\"CLICKH"
	"OUSE_SECURE\",\"value\":\"false\"},{\"name\":\"CLICKHOUSE_VERIFY\",\"value\":\"true\"},{\"name\":\"DATABAS"
	"E_URL\",\"valueFrom\":{\"secretKeyRef\":{\"key\":\"database-url\",\"name\":\"posthog-app\"}}},{\"name\":\""
	"PERSONS_DATABASE_URL\",\"valueFrom\":{\"secretKeyRef\":{\"key\":\"database-url\",\"name\":\"posthog-ap"
	"p\"}}},{\"name\":\"REDIS_URL\",\"valueFrom\":{\"secretKeyRef\":{\"key\":\"redis-url\",\"name\":\"posthog-a"
	"pp\"}}}],\"image\":\"posthog/posthog:03bc2ff27ab6730aef6b418718014e523e206fd3\",\"imagePullPolic"
	"y\":\"IfNotPresent\",\"name\":\"migrate\",\"resources\":{\"limits\":{\"memory\":\"2Gi\"},\"requests\":{\"cpu"
	"\":\"100m\",\"memory\":\"512Mi\"}},\"terminationMessagePath\":\"/dev/termination-log\",\"terminationMe"
	"ssagePolicy\":\"File\"}],\"dnsPolicy\":\"ClusterFirst\",\"restartPolicy\":\"Never\",\"schedulerName\":\""
	"default-scheduler\",\"securityContext\":{},\"terminationGracePeriodSeconds\":30}}},\"status\":{\"c"
	"ompletionTime\":\"2026-01-01T00:00:00Z\",\"conditions\":[{\"lastProbeTime\":\"2026-01-01T00:00:00Z"
	"\",\"lastTransitionTime\":\"2026-01-01T00:00:00Z\",\"message\":\"Reached expected number of succee"
	"ded pods\",\"reason\":\"CompletionsReached\",\"status\":\"True\",\"type\":\"SuccessCriteriaMet\"},{\"las"
	"tProbeTime\":\"2026-01-01T00:00:00Z\",\"lastTransitionTime\":\"2026-01-01T00:00:00Z\",\"message\":\""
	"Reached expected number of succeeded pods\",\"reason\":\"CompletionsReached\",\"status\":\"True\",\""
	"type\":\"Complete\"}],\"ready\":0,\"startTime\":\"2026-01-01T00:00:00Z\",\"succeeded\":1,\"terminating"
	"\":0,\"uncountedTerminatedPods\":{}}}{\"apiVersion\":\"v1\",\"data\":{\"buckets.json\":\"{\\n\\t\\\"versio"
	"n\\\":\\t1,\\n\\t\\\"algorithm\\\":\\t\\\"JumpHash\\\",\\n\\t\\\"parameters\\\":\\t{\\n\\t\\t\\\"teamHash\\\":\\t\\\"spli"
	"tmix64\\\",\\n\\t\\t\\\"splitmix64Gamma\\\":\\t\\\"0x9e3779b97f4a7c15\\\",\\n\\t\\t\\\"splitmix64Mul1\\\":\\t\\\"0"
	"xbf58476d1ce4e5b9\\\",\\n\\t\\t\\\"splitmix64Mul2\\\":\\t\\\"0x94d049bb133111eb\\\",\\n\\t\\t\\\"jumpMultipli"
	"er\\\":\\t\\\"2862933555777941757\\\"\\n\\t},\\n\\t\\\"buckets\\\":\\t4,\\n\\t\\\"pins\\\":\\t{\\n\\t},\\n\\t\\\"bootst"
	"rapServers\\\":\\t\\\"posthog-kafka:9092\\\",\\n\\t\\\"topicRouting\\\":\\t\\\"Env\\\",\\n\\t\\\"topics\\\":\\t[{\\n"
	"\\t\\t\\t\\\"bucket\\\":\\t0,\\n\\t\\t\\t\\\"ingestionTopic\\\":\\t\\\"events_plugin_ingestion_0\\\",\\n\\t\\t\\t\\\""
	"ingestionGroup\\\":\\t\\\"events-ingestion-consumer-0\\\",\\n\\t\\t\\t\\\"eventsJsonTopic\\\":\\t\\\"clickho"
	"use_events_json_0\\\"\\n\\t\\t}, {\\n\\t\\t\\t\\\"bucket\\\":\\t1,\\n\\t\\t\\t\\\"ingestionTopic\\\":\\t\\\"events_"
	"plugin_ingestion_1\\\",\\n\\t\\t\\t\\\"ingestionGroup\\\":\\t\\\"events-ingestion-consumer-1\\\",\\n\\t\\t\\t"
	"\\\"eventsJsonTopic\\\":\\t\\\"clickhouse_events_json_1\\\"\\n\\t\\t}, {\\n\\t\\t\\t\\\"bucket\\\":\\t2,\\n\\t\\t\\"
	"t\\\"ingestionTopic\\\":\\t\\\"events_plugin_ingestion_2\\\",\\n\\t\\t\\t\\\"ingestionGroup\\\":\\t\\\"events-"
	"ingestion-consumer-2\\\",\\n\\t\\t\\t\\\"eventsJsonTopic\\\":\\t\\\"clickhouse_events_json_2\\\"\\n\\t\\t}, "
	"{\\n\\t\\t\\t\\\"bucket\\\":\\t3,\\n\\t\\t\\t\\\"ingestionTopic\\\":\\t\\\"events_plugin_ingestion_3\\\",\\n\\t\\t\\"
	"t\\\"ingestionGroup\\\":\\t\\\"events-ingestion-consumer-3\\\",\\n\\t\\t\\t\\\"eventsJsonTopic\\\":\\t\\\"clic"
	"khouse_events_json_3\\\"\\n\\t\\t}]\\n}\"},\"kind\":\"ConfigMap\",\"metadata\":{\"creationTimestamp\":\"20"
	"26-01-01T00:00:00Z\",\"labels\":{\"app.kubernetes.io/component\":\"buckets\",\"app.kubernetes.io/i"
	"nstance\":\"posthog\",\"app.kubernetes.io/managed-by\":\"posthog-operator\",\"app.kubernetes.io/na"
	"me\":\"posthog\",\"app.kubernetes.io/part-of\":\"posthog\"},\"name\":\"posthog-buckets\",\"namespace\":"
	"\"t1\",\"resourceVersion\":\"1\",\"uid\":\"00000000-0000-0000-0000-000000000000\"}}{\"apiVersion\":\"v1"
	"\",\"kind\":\"Service\",\"metadata\":{\"creationTimestamp\":\"2026-01-01T00:00:00Z\",\"labels\":{\"app.k"
	"ubernetes.io/component\":\"clickhouse\",\"app.kubernetes.io/instance\":\"posthog\",\"app.kubernete"
	"s.io/managed-by\":\"posthog-operator\",\"app.kubernetes.io/name\":\"clickhouse\",\"app.kubernetes."
	"io/part-of\":\"posthog\"},\"name\":\"posthog-clickhouse\",\"namespace\":\"t1\",\"resourceVersion\":\"1\","
	"\"uid\":\"00000000-0000-0000-0000-000000000000\"},\"spec\":{\"clusterIP\":\"10.100.83.246\",\"cluster"
	"IPs\":[\"10.100.83.246\"],\"internalTrafficPolicy\":\"Cluster\",\"ipFamilies\":[\"IPv4\"],\"ipFamilyPo"
	"licy\":\"SingleStack\",\"ports\":[{\"name\":\"http\",\"port\":8123,\"protocol\":\"TCP\",\"targetPort\":8123"
	"},{\"name\":\"native\",\"port\":9000,\"protocol\":\"TCP\",\"targetPort\":9000}],\"selector\":{\"app.kuber"
	"netes.io/component\":\"clickhouse\",\"app.kubernetes.io/instance\":\"posthog\",\"app.kubernetes.io"
	"/name\":\"clickhouse\"},\"sessionAffinity\":\"None\",\"type\":\"ClusterIP\"},\"status\":{\"loadBalancer\""
	":{}}}{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\",\"metadata\":{\"annotations\":{\"deployment.ku"
	"bernetes.io/revision\":\"1\"},\"creationTimestamp\":\"2026-01-01T00:00:00Z\",\"generation\":1,\"labe"
	"ls\":{\"app.kubernetes.io/component\":\"async\",\"app.kubernetes.io/instance\":\"posthog\",\"app.kub"
	"ernetes.io/managed-by\":\"posthog-operator\",\"app.kubernetes.io/name\":\"plugin-server\",\"app.ku"
	"bernetes.io/part-of\":\"posthog\",\"posthog.com/bucket\":\"0\"},\"name\":\"posthog-plugins-async-0\","
	"\"namespace\":\"t1\",\"resourceVersion\":\"1\",\"uid\":\"00000000-0000-0000-0000-000000000000\"},\"spec"
	"\":{\"progressDeadlineSeconds\":600,\"replicas\":1,\"revisionHistoryLimit\":10,\"selector\":{\"match"
	"Labels\":{\"app.kubernetes.io/component\":\"async\",\"app.kubernetes.io/instance\":\"posthog\",\"app"
	".kubernetes.io/name\":\"plugin-server\",\"posthog.com/bucket\":\"0\"}},\"strategy\":{\"rollingUpdate"
	"\":{\"maxSurge\":\"25%\",\"maxUnavailable\":\"25%\"},\"type\":\"RollingUpdate\"},\"template\":{\"metadata\""
	":{\"annotations\":{\"prometheus.io/path\":\"/_metrics\",\"prometheus.io/port\":\"6738\",\"prometheus."
	"io/scrape\":\"true\"},\"labels\":{\"app.kubernetes.io/component\":\"async\",\"app.kubernetes.io/inst"
	"ance\":\"posthog\",\"app.kubernetes.io/managed-by\":\"posthog-operator\",\"app.kubernetes.io/name\""
	":\"plugin-server\",\"app.kubernetes.io/part-of\":\"posthog\",\"posthog.com/bucket\":\"0\"}},\"spec\":{"
	"\"affinity\":{\"podAntiAffinity\":{\"preferredDuringSchedulingIgnoredDuringExecution\":[{\"podAff"
	"inityTerm\":{\"labelSelector\":{\"matchLabels\":{\"app.kubernetes.io/component\":\"async\",\"app.kub"
	"ernetes.io/instance\":\"posthog\",\"app.kubernetes.io/name\":\"plugin-server\",\"posthog.com/bucke"
	"t\":\"0\"}},\"topologyKey\":\"kubernetes.io/hostname\"},\"weight\":100}]}},\"containers\":[{\"command\""
	":[\"node\",\"nodejs/dist/index.js\"],\"env\":[{\"name\":\"PLUGIN_SERVER_MODE\",\"value\":\"cdp-legacy-o"
	"n-event\"},{\"name\":\"POSTHOG_INGESTION_BUCKET\",\"value\":\"0\"},{\"name\":\"KAFKA_HOSTS\",\"value\":\"p"
	"osthog-kafka:9092\"},{\"name\":\"CLICKHOUSE_HOST\",\"value\":\"posthog-clickhouse\"},{\"name\":\"CLICK"
	"HOUSE_CLUSTER\",\"value\":\"posthog\"},{\"name\":\"CLICKHOUSE_DATABASE\",\"value\":\"posthog\"},{\"name\""
	":\"CLICKHOUSE_USER\",\"value\":\"admin\"},{\"name\":\"CLICKHOUSE_PASSWORD\",\"valueFrom\":{\"secretKeyR"
	"ef\":{\"key\":\"password\",\"name\":\"posthog-clickhouse\"}}},{\"name\":\"CLICKHOUSE_SECURE\",\"value\":\""
	"false\"},{\"name\":\"CLICKHOUSE_VERIFY\",\"value\":\"true\"},{\"name\":\"DATABASE_URL\",\"valueFrom\":{\"s"
	"ecretKeyRef\":{\"key\":\"database-url\",\"name\":\"posthog-app\"}}},{\"name\":\"PERSONS_DATABASE_URL\","
	"\"valueFrom\":{\"secretKeyRef\":{\"key\":\"database-url\",\"name\":\"posthog-app\"}}},{\"name\":\"REDIS_U"
	"RL\",\"valueFrom\":{\"secretKeyRef\":{\"key\":\"redis-url\",\"name\":\"posthog-app\"}}},{\"name\":\"CLICKH"
	"OUSE_JSON_EVENTS_KAFKA_TOPIC\",\"value\":\"clickhouse_events_json_0\"},{\"name\":\"CDP_LEGACY_EVEN"
	"T_CONSUMER_TOPIC\",\"value\":\"clickhouse_events_json_0\"},{\"name\":\"CDP_LEGACY_EVENT_CONSUMER_G"
	"ROUP_ID\",\"value\":\"clickhouse-plugin-server-async-onevent-0\"}],\"image\":\"posthog/posthog-nod"
	"e:03bc2ff27ab6730aef6b418718014e523e206fd3\",\"imagePullPolicy\":\"IfNotPresent\",\"livenessProb"
	"e\":{\"failureThreshold\":6,\"httpGet\":{\"path\":\"/_health\",\"port\":\"http\",\"scheme\":\"HTTP\"},\"init"
	"ialDelaySeconds\":60,\"periodSeconds\":10,\"successThreshold\":1,\"timeoutSeconds\":5},\"name\":\"pl"
	"ugin-server\",\"ports\":[{\"containerPort\":6738,\"name\":\"http\",\"protocol\":\"TCP\"}],\"readinessPro"
	"be\":{\"failureThreshold\":6,\"httpGet\":{\"path\":\"/_health\",\"port\":\"http\",\"scheme\":\"HTTP\"},\"ini"
	"tialDelaySeconds\":10,\"periodSeconds\":10,\"successThreshold\":1,\"timeoutSeconds\":5},\"resource"
	"s\":{},\"terminationMessagePath\":\"/dev/termination-log\",\"terminationMessagePolicy\":\"File\"}],"
	"\"dnsPolicy\":\"ClusterFirst\",\"restartPolicy\":\"Always\",\"schedulerName\":\"default-scheduler\",\"s"
	"ecurityContext\":{},\"terminationGracePeriodSeconds\":30}}},\"status\":{\"availableReplicas\":1,\""
	"conditions\":[{\"lastTransitionTime\":\"2026-01-01T00:00:00Z\",\"lastUpdateTime\":\"2026-01-01T00:"
	"00:00Z\",\"message\":\"Deployment has minimum availability.\",\"reason\":\"MinimumReplicasAvailabl"
	"e\",\"status\":\"True\",\"type\":\"Available\"},{\"lastTransitionTime\":\"2026-01-01T00:00:00Z\",\"lastU"
	"pdateTime\":\"2026-01-01T00:00:00Z\",\"message\":\"ReplicaSet \\\"posthog-plugins-async-0-77f47cf4"
	"88\\\" has successfully progressed.\",\"reason\":\"NewReplicaSetAvailable\",\"status\":\"True\",\"type"
	"\":\"Progressing\"}],\"observedGeneration\":1,\"readyReplicas\":1,\"replicas\":1,\"terminatingReplic"
	"as\":0,\"updatedReplicas\":1}}{\"apiVersion\":\"policy/v1\",\"kind\":\"PodDisruptionBudget\",\"metadat"
	"a\":{\"creationTimestamp\":\"2026-01-01T00:00:00Z\",\"generation\":1,\"labels\":{\"app.kubernetes.io"
	"/component\":\"clickhouse\",\"app.kubernetes.io/instance\":\"posthog\",\"app.kubernetes.io/managed"
	"-by\":\"posthog-operator\",\"app.kubernetes.io/name\":\"clickhouse\",\"app.kubernetes.io/part-of\":"
	"\"posthog\"},\"name\":\"posthog-clickhouse-0\",\"namespace\":\"t1\",\"resourceVersion\":\"1\",\"uid\":\"000"
	"00000-0000-0000-0000-000000000000\"},\"spec\":{\"maxUnavailable\":1,\"selector\":{\"matchLabels\":{"
	"\"app.kubernetes.io/component\":\"clickhouse\",\"app.kubernetes.io/instance\":\"posthog\",\"app.kub"
	"ernetes.io/name\":\"clickhouse\",\"posthog.com/clickhouse-shard\":\"0\"}}},\"status\":{\"conditions\""
	":[{\"lastTransitionTime\":\"2026-01-01T00:00:00Z\",\"message\":\"\",\"observedGeneration\":1,\"reason"
	"\":\"SufficientPods\",\"status\":\"True\",\"type\":\"DisruptionAllowed\"}],\"currentHealthy\":1,\"desire"
	"dHealthy\":0,\"disruptionsAllowed\":1,\"expectedPods\":1,\"observedGeneration\":1}}";

int compact_encode(const cJSON *obj, struct compact *out)
{
	char *text = cJSON_PrintUnformatted(obj);
	size_t n;
	z_stream z = {0};
	uLong bound;
	unsigned char *data;

	if (!text)
		abort();
	n = strlen(text);
	if (n > UINT32_MAX) {
		free(text);
		return -EFBIG;
	}
	if (deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, -COMPACT_WINDOW_BITS, 8,
			 Z_DEFAULT_STRATEGY) != Z_OK ||
	    deflateSetDictionary(&z, (const Bytef *)dictionary, sizeof(dictionary) - 1) != Z_OK)
		abort(); /* only Z_MEM_ERROR is possible with these arguments */
	bound = deflateBound(&z, (uLong)n);
	data = util_xmalloc(bound);
	z.next_in = (Bytef *)text;
	z.avail_in = (uInt)n;
	z.next_out = data;
	z.avail_out = (uInt)bound;
	if (deflate(&z, Z_FINISH) != Z_STREAM_END)
		abort(); /* deflateBound is enough by contract */
	out->len = (uint32_t)z.total_out;
	out->raw = (uint32_t)n;
	deflateEnd(&z);
	free(text);
	/* The exact size: a bound-sized block would hold twice the bytes. */
	out->data = realloc(data, out->len ? out->len : 1);
	if (!out->data)
		abort();
	return 0;
}

cJSON *compact_decode(const struct compact *c)
{
	z_stream z = {0};
	char *text = util_xmalloc((size_t)c->raw + 1);
	cJSON *obj;
	int r;

	if (inflateInit2(&z, -COMPACT_WINDOW_BITS) != Z_OK ||
	    inflateSetDictionary(&z, (const Bytef *)dictionary, sizeof(dictionary) - 1) != Z_OK)
		abort();
	z.next_in = c->data;
	z.avail_in = c->len;
	z.next_out = (Bytef *)text;
	z.avail_out = c->raw;
	r = inflate(&z, Z_FINISH);
	inflateEnd(&z);
	/* What this process compressed itself inflates, or memory is
	 * corrupt: no way to go on. */
	if (r != Z_STREAM_END || z.total_out != c->raw)
		abort();
	text[c->raw] = '\0';
	obj = cJSON_ParseWithLength(text, c->raw);
	free(text);
	if (!obj)
		abort();
	return obj;
}

void compact_free(struct compact *c)
{
	free(c->data);
	c->data = NULL;
	c->len = c->raw = 0;
}
