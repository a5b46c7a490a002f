"""The runner's Fargate task in moto, started the one way scenario.py and bench_vpc.py both need."""


def run_task(ecs, name, subnet, group, public_ip=False):
    """Creates cluster `name` and a task definition of the same name, runs one Fargate task in
    `subnet` with security group `group`, and returns the task (RunTask's `tasks[0]`)."""
    ecs.create_cluster(clusterName=name)
    ecs.register_task_definition(
        family=name,
        networkMode="awsvpc",
        requiresCompatibilities=["FARGATE"],
        cpu="256",
        memory="512",
        # moto's RunTask needs memory at container level.
        containerDefinitions=[{"name": "runner", "image": "busybox", "memory": 512}],
    )
    return ecs.run_task(
        cluster=name,
        taskDefinition=name,
        launchType="FARGATE",
        networkConfiguration={
            "awsvpcConfiguration": {
                "subnets": [subnet],
                "securityGroups": [group],
                "assignPublicIp": "ENABLED" if public_ip else "DISABLED",
            }
        },
    )["tasks"][0]
