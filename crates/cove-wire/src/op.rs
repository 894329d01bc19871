//! The DynamoDB operations, named as in botocore's service model, and their `X-Amz-Target`
//! dispatch.

/// The `X-Amz-Target` prefix of the DynamoDB API version Cove speaks.
pub const TARGET_PREFIX: &str = "DynamoDB_20120810";

macro_rules! operations {
    ($($name:ident),* $(,)?) => {
        /// Every operation in botocore's DynamoDB 2012-08-10 model.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Operation { $($name),* }

        impl Operation {
            /// Every operation, in model order.
            pub const ALL: &'static [Operation] = &[$(Operation::$name),*];

            /// The operation's name as it appears after the target prefix.
            pub fn name(self) -> &'static str {
                match self { $(Operation::$name => stringify!($name)),* }
            }

            /// The IAM action that authorizes the operation, `dynamodb:<name>`, a constant so
            /// that no request formats it.
            pub fn action(self) -> &'static str {
                match self { $(Operation::$name => concat!("dynamodb:", stringify!($name))),* }
            }

            fn from_name(name: &str) -> Option<Operation> {
                match name { $(stringify!($name) => Some(Operation::$name),)* _ => None }
            }
        }
    };
}

operations!(
    BatchExecuteStatement,
    BatchGetItem,
    BatchWriteItem,
    CreateBackup,
    CreateGlobalTable,
    CreateTable,
    DeleteBackup,
    DeleteItem,
    DeleteResourcePolicy,
    DeleteTable,
    DescribeBackup,
    DescribeContinuousBackups,
    DescribeContributorInsights,
    DescribeEndpoints,
    DescribeExport,
    DescribeGlobalTable,
    DescribeGlobalTableSettings,
    DescribeImport,
    DescribeKinesisStreamingDestination,
    DescribeLimits,
    DescribeTable,
    DescribeTableReplicaAutoScaling,
    DescribeTimeToLive,
    DisableKinesisStreamingDestination,
    EnableKinesisStreamingDestination,
    ExecuteStatement,
    ExecuteTransaction,
    ExportTableToPointInTime,
    GetItem,
    GetResourcePolicy,
    ImportTable,
    ListBackups,
    ListContributorInsights,
    ListExports,
    ListGlobalTables,
    ListImports,
    ListTables,
    ListTagsOfResource,
    PutItem,
    PutResourcePolicy,
    Query,
    RestoreTableFromBackup,
    RestoreTableToPointInTime,
    Scan,
    TagResource,
    TransactGetItems,
    TransactWriteItems,
    UntagResource,
    UpdateContinuousBackups,
    UpdateContributorInsights,
    UpdateGlobalTable,
    UpdateGlobalTableSettings,
    UpdateItem,
    UpdateKinesisStreamingDestination,
    UpdateTable,
    UpdateTableReplicaAutoScaling,
    UpdateTimeToLive,
);

impl Operation {
    /// Resolves an `X-Amz-Target` header value such as `DynamoDB_20120810.PutItem`.
    /// Anything else (another API version, an unknown name, a missing dot) is `None`, which
    /// DynamoDB answers with UnknownOperationException.
    pub fn from_target(target: &str) -> Option<Operation> {
        let (prefix, name) = target.split_once('.')?;
        if prefix != TARGET_PREFIX {
            return None;
        }
        Operation::from_name(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_are_the_service_prefix_and_the_name() {
        for op in Operation::ALL {
            assert_eq!(op.action(), format!("dynamodb:{}", op.name()));
        }
    }

    #[test]
    fn targets_resolve_only_with_the_right_prefix() {
        assert_eq!(
            Operation::from_target("DynamoDB_20120810.PutItem"),
            Some(Operation::PutItem)
        );
        assert_eq!(Operation::from_target("DynamoDB_20111205.PutItem"), None);
        assert_eq!(Operation::from_target("DynamoDB_20120810.Nope"), None);
        assert_eq!(Operation::from_target("DynamoDB_20120810"), None);
        assert_eq!(Operation::from_target("DynamoDB_20120810.putitem"), None);
    }

    #[test]
    fn every_operation_round_trips_through_its_target() {
        assert_eq!(Operation::ALL.len(), 57);
        for op in Operation::ALL {
            let target = format!("{TARGET_PREFIX}.{}", op.name());
            assert_eq!(Operation::from_target(&target), Some(*op));
        }
    }
}
