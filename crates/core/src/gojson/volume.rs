//! Go's view of `core/v1.Volume` (k8s.io/api v0.32, the version Kruise v1.9 builds against) and
//! what it refers to, for [`super::encode_list`]: each field's JSON name, type, `omitempty` and
//! whether it is a pointer. Generated once by reflecting over the Go types (`hack/revision-vectors`
//! checks the encoding against Go); field order is Go's, which the revision data then sorts anyway.
//! Fields added to `Volume` after 1.32 are absent, so they never reach the revision data, exactly as
//! on a Kruise built against v0.32.

use super::Ty::{
    Bool, Int, Quantity, QuantityMap, Raw, Str, StrList, StrMap, Struct, StructList, Time,
};
use super::{Field, OBJECT_FIELD_SELECTOR, RESOURCE_FIELD_SELECTOR, opt, ptr, ptr_req, req};

const HOST_PATH_VOLUME_SOURCE: &[Field] = &[req("path", Str), ptr("type", Str)];

const EMPTY_DIR_VOLUME_SOURCE: &[Field] = &[opt("medium", Str), ptr("sizeLimit", Quantity)];

const GCE_PERSISTENT_DISK_VOLUME_SOURCE: &[Field] = &[
    req("pdName", Str),
    opt("fsType", Str),
    opt("partition", Int),
    opt("readOnly", Bool),
];

const AWS_ELASTIC_BLOCK_STORE_VOLUME_SOURCE: &[Field] = &[
    req("volumeID", Str),
    opt("fsType", Str),
    opt("partition", Int),
    opt("readOnly", Bool),
];

const GIT_REPO_VOLUME_SOURCE: &[Field] = &[
    req("repository", Str),
    opt("revision", Str),
    opt("directory", Str),
];

const KEY_TO_PATH: &[Field] = &[req("key", Str), req("path", Str), ptr("mode", Int)];

const SECRET_VOLUME_SOURCE: &[Field] = &[
    opt("secretName", Str),
    opt("items", StructList(KEY_TO_PATH)),
    ptr("defaultMode", Int),
    ptr("optional", Bool),
];

const NFS_VOLUME_SOURCE: &[Field] = &[req("server", Str), req("path", Str), opt("readOnly", Bool)];

pub(super) const LOCAL_OBJECT_REFERENCE: &[Field] = &[opt("name", Str)];

const ISCSI_VOLUME_SOURCE: &[Field] = &[
    req("targetPortal", Str),
    req("iqn", Str),
    req("lun", Int),
    opt("iscsiInterface", Str),
    opt("fsType", Str),
    opt("readOnly", Bool),
    opt("portals", StrList),
    opt("chapAuthDiscovery", Bool),
    opt("chapAuthSession", Bool),
    ptr("secretRef", Struct(LOCAL_OBJECT_REFERENCE)),
    ptr("initiatorName", Str),
];

const GLUSTERFS_VOLUME_SOURCE: &[Field] = &[
    req("endpoints", Str),
    req("path", Str),
    opt("readOnly", Bool),
];

const PERSISTENT_VOLUME_CLAIM_VOLUME_SOURCE: &[Field] =
    &[req("claimName", Str), opt("readOnly", Bool)];

const RBD_VOLUME_SOURCE: &[Field] = &[
    req("monitors", StrList),
    req("image", Str),
    opt("fsType", Str),
    opt("pool", Str),
    opt("user", Str),
    opt("keyring", Str),
    ptr("secretRef", Struct(LOCAL_OBJECT_REFERENCE)),
    opt("readOnly", Bool),
];

const FLEX_VOLUME_SOURCE: &[Field] = &[
    req("driver", Str),
    opt("fsType", Str),
    ptr("secretRef", Struct(LOCAL_OBJECT_REFERENCE)),
    opt("readOnly", Bool),
    opt("options", StrMap),
];

const CINDER_VOLUME_SOURCE: &[Field] = &[
    req("volumeID", Str),
    opt("fsType", Str),
    opt("readOnly", Bool),
    ptr("secretRef", Struct(LOCAL_OBJECT_REFERENCE)),
];

const CEPH_FS_VOLUME_SOURCE: &[Field] = &[
    req("monitors", StrList),
    opt("path", Str),
    opt("user", Str),
    opt("secretFile", Str),
    ptr("secretRef", Struct(LOCAL_OBJECT_REFERENCE)),
    opt("readOnly", Bool),
];

const FLOCKER_VOLUME_SOURCE: &[Field] = &[opt("datasetName", Str), opt("datasetUUID", Str)];

const DOWNWARD_API_VOLUME_FILE: &[Field] = &[
    req("path", Str),
    ptr("fieldRef", Struct(OBJECT_FIELD_SELECTOR)),
    ptr("resourceFieldRef", Struct(RESOURCE_FIELD_SELECTOR)),
    ptr("mode", Int),
];

const DOWNWARD_API_VOLUME_SOURCE: &[Field] = &[
    opt("items", StructList(DOWNWARD_API_VOLUME_FILE)),
    ptr("defaultMode", Int),
];

const FC_VOLUME_SOURCE: &[Field] = &[
    opt("targetWWNs", StrList),
    ptr("lun", Int),
    opt("fsType", Str),
    opt("readOnly", Bool),
    opt("wwids", StrList),
];

const AZURE_FILE_VOLUME_SOURCE: &[Field] = &[
    req("secretName", Str),
    req("shareName", Str),
    opt("readOnly", Bool),
];

const CONFIG_MAP_VOLUME_SOURCE: &[Field] = &[
    opt("name", Str),
    opt("items", StructList(KEY_TO_PATH)),
    ptr("defaultMode", Int),
    ptr("optional", Bool),
];

const VSPHERE_VIRTUAL_DISK_VOLUME_SOURCE: &[Field] = &[
    req("volumePath", Str),
    opt("fsType", Str),
    opt("storagePolicyName", Str),
    opt("storagePolicyID", Str),
];

const QUOBYTE_VOLUME_SOURCE: &[Field] = &[
    req("registry", Str),
    req("volume", Str),
    opt("readOnly", Bool),
    opt("user", Str),
    opt("group", Str),
    opt("tenant", Str),
];

const AZURE_DISK_VOLUME_SOURCE: &[Field] = &[
    req("diskName", Str),
    req("diskURI", Str),
    ptr("cachingMode", Str),
    ptr("fsType", Str),
    ptr("readOnly", Bool),
    ptr("kind", Str),
];

const PHOTON_PERSISTENT_DISK_VOLUME_SOURCE: &[Field] = &[req("pdID", Str), opt("fsType", Str)];

const SECRET_PROJECTION: &[Field] = &[
    opt("name", Str),
    opt("items", StructList(KEY_TO_PATH)),
    ptr("optional", Bool),
];

const DOWNWARD_API_PROJECTION: &[Field] = &[opt("items", StructList(DOWNWARD_API_VOLUME_FILE))];

const CONFIG_MAP_PROJECTION: &[Field] = &[
    opt("name", Str),
    opt("items", StructList(KEY_TO_PATH)),
    ptr("optional", Bool),
];

const SERVICE_ACCOUNT_TOKEN_PROJECTION: &[Field] = &[
    opt("audience", Str),
    ptr("expirationSeconds", Int),
    req("path", Str),
];

const LABEL_SELECTOR_REQUIREMENT: &[Field] = &[
    req("key", Str),
    req("operator", Str),
    opt("values", StrList),
];

const LABEL_SELECTOR: &[Field] = &[
    opt("matchLabels", StrMap),
    opt("matchExpressions", StructList(LABEL_SELECTOR_REQUIREMENT)),
];

const CLUSTER_TRUST_BUNDLE_PROJECTION: &[Field] = &[
    ptr("name", Str),
    ptr("signerName", Str),
    ptr("labelSelector", Struct(LABEL_SELECTOR)),
    ptr("optional", Bool),
    req("path", Str),
];

const VOLUME_PROJECTION: &[Field] = &[
    ptr("secret", Struct(SECRET_PROJECTION)),
    ptr("downwardAPI", Struct(DOWNWARD_API_PROJECTION)),
    ptr("configMap", Struct(CONFIG_MAP_PROJECTION)),
    ptr(
        "serviceAccountToken",
        Struct(SERVICE_ACCOUNT_TOKEN_PROJECTION),
    ),
    ptr(
        "clusterTrustBundle",
        Struct(CLUSTER_TRUST_BUNDLE_PROJECTION),
    ),
];

const PROJECTED_VOLUME_SOURCE: &[Field] = &[
    req("sources", StructList(VOLUME_PROJECTION)),
    ptr("defaultMode", Int),
];

const PORTWORX_VOLUME_SOURCE: &[Field] = &[
    req("volumeID", Str),
    opt("fsType", Str),
    opt("readOnly", Bool),
];

const SCALE_IO_VOLUME_SOURCE: &[Field] = &[
    req("gateway", Str),
    req("system", Str),
    ptr_req("secretRef", Struct(LOCAL_OBJECT_REFERENCE)),
    opt("sslEnabled", Bool),
    opt("protectionDomain", Str),
    opt("storagePool", Str),
    opt("storageMode", Str),
    opt("volumeName", Str),
    opt("fsType", Str),
    opt("readOnly", Bool),
];

const STORAGE_OS_VOLUME_SOURCE: &[Field] = &[
    opt("volumeName", Str),
    opt("volumeNamespace", Str),
    opt("fsType", Str),
    opt("readOnly", Bool),
    ptr("secretRef", Struct(LOCAL_OBJECT_REFERENCE)),
];

const CSI_VOLUME_SOURCE: &[Field] = &[
    req("driver", Str),
    ptr("readOnly", Bool),
    ptr("fsType", Str),
    opt("volumeAttributes", StrMap),
    ptr("nodePublishSecretRef", Struct(LOCAL_OBJECT_REFERENCE)),
];

const OWNER_REFERENCE: &[Field] = &[
    req("apiVersion", Str),
    req("kind", Str),
    req("name", Str),
    req("uid", Str),
    ptr("controller", Bool),
    ptr("blockOwnerDeletion", Bool),
];

const MANAGED_FIELDS_ENTRY: &[Field] = &[
    opt("manager", Str),
    opt("operation", Str),
    opt("apiVersion", Str),
    ptr("time", Time),
    opt("fieldsType", Str),
    ptr("fieldsV1", Raw),
    opt("subresource", Str),
];

const OBJECT_META: &[Field] = &[
    opt("name", Str),
    opt("generateName", Str),
    opt("namespace", Str),
    opt("selfLink", Str),
    opt("uid", Str),
    opt("resourceVersion", Str),
    opt("generation", Int),
    opt("creationTimestamp", Time),
    ptr("deletionTimestamp", Time),
    ptr("deletionGracePeriodSeconds", Int),
    opt("labels", StrMap),
    opt("annotations", StrMap),
    opt("ownerReferences", StructList(OWNER_REFERENCE)),
    opt("finalizers", StrList),
    opt("managedFields", StructList(MANAGED_FIELDS_ENTRY)),
];

const VOLUME_RESOURCE_REQUIREMENTS: &[Field] =
    &[opt("limits", QuantityMap), opt("requests", QuantityMap)];

const TYPED_LOCAL_OBJECT_REFERENCE: &[Field] =
    &[ptr_req("apiGroup", Str), req("kind", Str), req("name", Str)];

const TYPED_OBJECT_REFERENCE: &[Field] = &[
    ptr_req("apiGroup", Str),
    req("kind", Str),
    req("name", Str),
    ptr("namespace", Str),
];

const PERSISTENT_VOLUME_CLAIM_SPEC: &[Field] = &[
    opt("accessModes", StrList),
    ptr("selector", Struct(LABEL_SELECTOR)),
    opt("resources", Struct(VOLUME_RESOURCE_REQUIREMENTS)),
    opt("volumeName", Str),
    ptr("storageClassName", Str),
    ptr("volumeMode", Str),
    ptr("dataSource", Struct(TYPED_LOCAL_OBJECT_REFERENCE)),
    ptr("dataSourceRef", Struct(TYPED_OBJECT_REFERENCE)),
    ptr("volumeAttributesClassName", Str),
];

const PERSISTENT_VOLUME_CLAIM_TEMPLATE: &[Field] = &[
    opt("metadata", Struct(OBJECT_META)),
    req("spec", Struct(PERSISTENT_VOLUME_CLAIM_SPEC)),
];

const EPHEMERAL_VOLUME_SOURCE: &[Field] = &[ptr(
    "volumeClaimTemplate",
    Struct(PERSISTENT_VOLUME_CLAIM_TEMPLATE),
)];

const IMAGE_VOLUME_SOURCE: &[Field] = &[opt("reference", Str), opt("pullPolicy", Str)];

pub(super) const VOLUME: &[Field] = &[
    req("name", Str),
    ptr("hostPath", Struct(HOST_PATH_VOLUME_SOURCE)),
    ptr("emptyDir", Struct(EMPTY_DIR_VOLUME_SOURCE)),
    ptr(
        "gcePersistentDisk",
        Struct(GCE_PERSISTENT_DISK_VOLUME_SOURCE),
    ),
    ptr(
        "awsElasticBlockStore",
        Struct(AWS_ELASTIC_BLOCK_STORE_VOLUME_SOURCE),
    ),
    ptr("gitRepo", Struct(GIT_REPO_VOLUME_SOURCE)),
    ptr("secret", Struct(SECRET_VOLUME_SOURCE)),
    ptr("nfs", Struct(NFS_VOLUME_SOURCE)),
    ptr("iscsi", Struct(ISCSI_VOLUME_SOURCE)),
    ptr("glusterfs", Struct(GLUSTERFS_VOLUME_SOURCE)),
    ptr(
        "persistentVolumeClaim",
        Struct(PERSISTENT_VOLUME_CLAIM_VOLUME_SOURCE),
    ),
    ptr("rbd", Struct(RBD_VOLUME_SOURCE)),
    ptr("flexVolume", Struct(FLEX_VOLUME_SOURCE)),
    ptr("cinder", Struct(CINDER_VOLUME_SOURCE)),
    ptr("cephfs", Struct(CEPH_FS_VOLUME_SOURCE)),
    ptr("flocker", Struct(FLOCKER_VOLUME_SOURCE)),
    ptr("downwardAPI", Struct(DOWNWARD_API_VOLUME_SOURCE)),
    ptr("fc", Struct(FC_VOLUME_SOURCE)),
    ptr("azureFile", Struct(AZURE_FILE_VOLUME_SOURCE)),
    ptr("configMap", Struct(CONFIG_MAP_VOLUME_SOURCE)),
    ptr("vsphereVolume", Struct(VSPHERE_VIRTUAL_DISK_VOLUME_SOURCE)),
    ptr("quobyte", Struct(QUOBYTE_VOLUME_SOURCE)),
    ptr("azureDisk", Struct(AZURE_DISK_VOLUME_SOURCE)),
    ptr(
        "photonPersistentDisk",
        Struct(PHOTON_PERSISTENT_DISK_VOLUME_SOURCE),
    ),
    ptr("projected", Struct(PROJECTED_VOLUME_SOURCE)),
    ptr("portworxVolume", Struct(PORTWORX_VOLUME_SOURCE)),
    ptr("scaleIO", Struct(SCALE_IO_VOLUME_SOURCE)),
    ptr("storageos", Struct(STORAGE_OS_VOLUME_SOURCE)),
    ptr("csi", Struct(CSI_VOLUME_SOURCE)),
    ptr("ephemeral", Struct(EPHEMERAL_VOLUME_SOURCE)),
    ptr("image", Struct(IMAGE_VOLUME_SOURCE)),
];
