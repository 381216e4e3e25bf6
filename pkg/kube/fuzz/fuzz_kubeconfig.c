/*
 * libFuzzer target: kubeconfig parsing and context resolution from an
 * in-memory document (YAML through jsonyaml, then the resolver). A
 * resolved configuration also builds the exec plugin's
 * KUBERNETES_EXEC_INFO, which serializes every cluster field.
 */
#include <stdint.h>
#include <stdlib.h>

#include "pkg/kube/kube-private.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kube_config *cfg = NULL;
	if (kube_config_from_yaml((const char *)data, size, NULL, NULL, &cfg))
		return 0;
	if (cfg->exec)
		free(kube_exec_info(cfg));
	(void)kube_config_server(cfg);
	(void)kube_config_namespace(cfg);
	kube_config_free(cfg);
	return 0;
}
