"""20 people using the demo at once: coordinators, key workers and PCN leads. Loopback only."""

import random
import re

from locust import HttpUser, between, task

PASSWORD = "int-demo-2026"
TEAMS = ("east", "west")
AGENDA_LINK = re.compile(r'href="(/meetings/teams/[\w-]+/\d+/agenda/)"')


class Person(HttpUser):
    abstract = True
    wait_time = between(0.5, 2)
    role = "coordinator"

    def on_start(self) -> None:
        self.team = random.choice(TEAMS)
        self.client.get("/accounts/login/", name="login page")
        token = self.client.cookies.get("csrftoken", "")
        with self.client.post(
            "/accounts/login/",
            data={"login": f"{self.role}@{self.team}.demo", "password": PASSWORD, "csrfmiddlewaretoken": token},
            headers={"Referer": f"{self.host}/accounts/login/"},
            name="log in",
            catch_response=True,
        ) as response:
            if "/accounts/login/" in response.url:
                response.failure(f"could not log in as {self.role}@{self.team}.demo")


class Coordinator(Person):
    weight = 6
    role = "coordinator"

    @task(3)
    def caseload(self) -> None:
        self.client.get(f"/caseload/teams/{self.team}/", name="caseload")
        self.client.get(f"/caseload/teams/{self.team}/", params={"q": random.choice(["smith", "jones", "patel", "ali"])}, name="caseload search")

    @task(2)
    def agenda(self) -> None:
        meetings = self.client.get("/meetings/", name="meetings")
        links = AGENDA_LINK.findall(meetings.text)
        if links:
            self.client.get(links[0], name="agenda")

    @task(1)
    def dashboard(self) -> None:
        self.client.get("/kpis/", name="dashboard")


class KeyWorker(Person):
    weight = 10
    role = "ot"

    def on_start(self) -> None:
        self.role = random.choice(["ot", "social", "community", "mentalhealth"])
        super().on_start()

    @task
    def my_actions(self) -> None:
        self.client.get("/meetings/actions/", name="my actions")


class PCNLead(Person):
    weight = 4
    role = "lead"

    @task(3)
    def dashboard(self) -> None:
        self.client.get("/kpis/", name="dashboard")

    @task(1)
    def pressure(self) -> None:
        self.client.get("/pressure/", name="pressure heatmap")
