"""Well-known CloudStack commands Strato does not answer, each with the closest one it
does: an unknown command's 432 names it."""

from __future__ import annotations

from strato.services.cloudstack_api.registry import UNSUPPORTED

UNSUPPORTED.update(
    {
        name.lower(): closest
        for name, closest in {
            "listVPCs": "listNetworks (Strato has isolated networks, not VPCs)",
            "createVPC": "createNetwork",
            "listVPCOfferings": "listNetworkOfferings",
            "listLoadBalancerRules": "listPortForwardingRules",
            "createLoadBalancerRule": "createPortForwardingRule",
            "listProjects": "listAccounts (Strato has no projects)",
            "resetPasswordForVirtualMachine": "resetSSHKeyForVirtualMachine",
            "getVMPassword": "resetSSHKeyForVirtualMachine",
            "restoreVirtualMachine": "revertToVMSnapshot",
            "addNicToVirtualMachine": "deployVirtualMachine (with networkids)",
            "listRouters": "listNetworks",
            "getUserKeys": "registerUserKeys (a secret is shown once, when made)",
            "createTemplate": "createSnapshot",
            "updateTemplate": "registerTemplate",
            "extractVolume": "createSnapshot",
            "uploadVolume": "createVolume",
            "updateNetwork": "createNetwork",
            "listVlanIpRanges": "listPublicIpAddresses",
            "listConfigurations": "listCapabilities",
            "listEventTypes": "listEvents",
            "listOsCategories": "listOsTypes",
            "listUsageRecords": "listEvents (and Strato's usage service, /api/v1/usage-records)",
            "listResourceLimits": "listAccounts (limits are the ACL service's)",
            "updateResourceLimit": "listAccounts (limits are the ACL service's)",
            "listAffinityGroups": "listVirtualMachines (its affinitygroup field)",
            "createAffinityGroup": "deployVirtualMachine (affinitygroupids)",
            "updateVolume": "resizeVolume",
            "updateVMAffinityGroup": "deployVirtualMachine (affinitygroupids)",
            "listInstanceGroups": "listVirtualMachines",
            "createInstanceGroup": "createTags",
            "deleteAccount": "listAccounts (disable it through the ACL service)",
            "updateSnapshotPolicy": "createSnapshotPolicy",
            "deployVnfAppliance": "deployVirtualMachine",
        }.items()
    }
)
